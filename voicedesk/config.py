"""Typed settings: defaults, then a TOML file, then VOICEDESK_* environment variables."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from voicedesk.errors import ConfigError

CONFIG_ENV = "VOICEDESK_CONFIG"
"""Environment variable naming a config file when --config is not given."""


class _Section(BaseModel):
    """A config table that rejects keys it does not know."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SttSettings(_Section):
    """`[stt]`: the speech-to-text model and its decoding options."""

    model: str = "tiny.en"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute_type: str = "auto"
    beam_size: int = Field(5, ge=1, le=20)
    cpu_threads: int = Field(0, ge=0)
    models_dir: Path = Path("models")
    no_speech_threshold: float = Field(0.6, ge=0.0, le=1.0)
    logprob_threshold: float = Field(-0.5, le=0.0)
    vocabulary: list[str] = Field(default_factory=list)
    use_prompt: bool = True
    use_hotwords: bool = False
    hypotheses: int = Field(5, ge=1, le=20)
    phrase_prompt: bool = True
    window_s: float = Field(30.0, ge=1.0, le=30.0)
    live_context: bool = True


class VadSettings(_Section):
    """`[vad]`: how the stream is cut into utterances."""

    aggressiveness: int = Field(2, ge=0, le=3)
    energy_floor_dbfs: float = Field(-55.0, le=0.0)
    frame_ms: Literal[10, 20, 30] = 30
    pre_roll_ms: int = Field(300, ge=0, le=2000)
    hangover_ms: int = Field(500, ge=60, le=5000)
    min_speech_ms: int = Field(200, ge=0, le=5000)
    max_utterance_s: float = Field(20.0, ge=1.0, le=120.0)


class IntentSettings(_Section):
    """`[intents]`: how sure the parser must be before it acts, or asks first."""

    min_confidence: float = Field(0.75, ge=0.0, le=1.0)
    confirm_below: float = Field(0.9, ge=0.0, le=1.0)
    hypothesis_margin: float = Field(0.3, ge=0.0, le=5.0)
    confirm_score: float = Field(-1.0, le=0.0)


class ListenSettings(_Section):
    """`[listen]`: the live listener: microphone, wake word, partials, confirmations."""

    device: str | None = None
    wake_word: str | None = None
    partial_interval_s: float = Field(0.7, ge=0.2, le=10.0)
    partials: Literal["auto", "on", "off"] = "auto"
    confirm_timeout_s: float = Field(10.0, gt=0.0, le=600.0)
    control_socket: Path | None = None


class StoreSettings(_Section):
    """`[store]`: where the SQLite database lives."""

    data_dir: Path | None = None


PermissionMode = Literal["default", "acceptEdits", "plan", "dontAsk", "bypassPermissions"]
"""Claude Code permission modes a coding agent may run in (`bypassPermissions` only if set)."""


class AgentSettings(_Section):
    """`[agents.NAME]`: one named agent the console can address, and how its jobs run."""

    kind: Literal["coding", "research", "shell"]
    aliases: list[str] = Field(default_factory=list)
    repo: Path | None = None
    confirm: bool = False
    commands: dict[str, str] = Field(default_factory=dict)
    max_concurrent: int = Field(1, ge=1, le=64)
    timeout_s: float | None = Field(None, gt=0.0)
    model: str | None = None
    permission_mode: PermissionMode = "acceptEdits"
    allowed_tools: list[str] = Field(default_factory=list)
    disallowed_tools: list[str] = Field(default_factory=list)
    deny: list[str] = Field(default_factory=list)
    max_turns: int = Field(30, ge=1, le=1000)
    max_budget_usd: float = Field(2.0, gt=0.0)
    max_tokens: int = Field(4096, ge=16, le=128_000)
    followup_window_s: float = Field(600.0, ge=0.0)
    answer_timeout_s: float = Field(600.0, gt=0.0)

    @field_validator("aliases")
    @classmethod
    def _clean_aliases(cls, aliases: list[str]) -> list[str]:
        """Aliases are stored lower-case and must not be blank."""
        cleaned = [alias.strip().lower() for alias in aliases]
        if any(not alias for alias in cleaned):
            raise ValueError("an alias is blank")
        return cleaned


class RunnerSettings(_Section):
    """`[runner]`: how queued jobs are claimed and run."""

    max_concurrent: int = Field(4, ge=1, le=256)
    job_timeout_s: float = Field(1800.0, gt=0.0)
    lease_s: float = Field(30.0, ge=1.0, le=3600.0)
    poll_s: float = Field(0.5, gt=0.0, le=60.0)
    on_orphan: Literal["fail", "requeue"] = "fail"
    max_attempts: int = Field(3, ge=1, le=100)
    cancel_grace_s: float = Field(5.0, ge=0.0, le=300.0)
    worktrees_dir: Path | None = None


class ServeSettings(_Section):
    """`[serve]`: the HTTP service, its limits and its token."""

    host: str = "127.0.0.1"
    port: int = Field(8765, ge=1, le=65535)
    token: str | None = None
    run_jobs: bool = True
    transcription_workers: int = Field(2, ge=1, le=64)
    model_nice: int = Field(5, ge=0, le=19)
    max_batch: int = Field(4, ge=1, le=64)
    max_upload_mb: float = Field(25.0, gt=0.0, le=2048.0)
    max_upload_seconds: float = Field(1800.0, gt=0.0)
    max_ws_frame_bytes: int = Field(65536, ge=640, le=16 * 1024 * 1024)
    rate_limit_per_minute: int = Field(1200, ge=1)
    rate_burst: int = Field(200, ge=1)


class ExperimentSettings(_Section):
    """`[experiments]`: the shared queue of training runs and how each is judged."""

    backend: Literal["embedded", "ray"] = "embedded"
    ray_address: str | None = None
    repo: Path | None = None
    baseline_branch: str = "main"
    train_file: str = "train.py"
    command: str = "uv run train.py"
    budget_s: float = Field(300.0, gt=0.0)
    hard_limit_s: float = Field(600.0, gt=0.0)
    metric_name: str = "val_bpb"
    metric_regex: str = r"^val_bpb:\s*([0-9.]+)"
    memory_regex: str = r"^peak_vram_mb:\s*([0-9.]+)"
    direction: Literal["lower", "higher"] = "lower"
    advance_on_keep: bool = False
    max_attempts: int = Field(2, ge=1, le=100)
    lease_s: float = Field(30.0, ge=1.0, le=3600.0)
    idempotency_window_s: float = Field(120.0, ge=0.0)
    logs_dir: Path | None = None

    @model_validator(mode="after")
    def _limits_in_order(self) -> ExperimentSettings:
        """The hard limit cannot be below the budget."""
        if self.hard_limit_s < self.budget_s:
            raise ValueError("experiments.hard_limit_s must be at least budget_s")
        return self


class LlmSettings(_Section):
    """`[llm]`: the Anthropic API for research agents and the intent fallback."""

    intent_fallback: Literal["auto", "on", "off"] = "auto"
    intent_model: str = "claude-haiku-5-5"
    intent_timeout_s: float = Field(10.0, gt=0.0, le=600.0)
    model: str = "claude-sonnet-5-5"
    base_url: str | None = None
    timeout_s: float = Field(60.0, gt=0.0, le=3600.0)
    max_retries: int = Field(2, ge=0, le=10)
    input_usd_per_mtok: float = Field(3.0, ge=0.0)
    output_usd_per_mtok: float = Field(15.0, ge=0.0)


AlertKindName = Literal["job_done", "job_failed", "needs_input", "experiment_best"]
_ALL_ALERT_KINDS: list[AlertKindName] = ["job_done", "job_failed", "needs_input", "experiment_best"]


class SpeechSettings(_Section):
    """`[speech]`: how replies and alerts are spoken."""

    engine: Literal["piper", "espeak", "none"] = "piper"
    voice: str | None = None
    speed: float = Field(1.0, ge=0.25, le=4.0)
    volume: float = Field(1.0, ge=0.0, le=4.0)
    output_device: str | None = None
    while_speaking: Literal["mute", "listen"] = "mute"
    echo_tail_ms: int = Field(250, ge=0, le=5000)
    web: Literal["browser", "server", "off"] = "browser"


class AlertSettings(_Section):
    """`[alerts]`: what the console tells the user on its own, and where."""

    speak: list[AlertKindName] = Field(default_factory=lambda: list(_ALL_ALERT_KINDS))
    show: list[AlertKindName] = Field(default_factory=lambda: list(_ALL_ALERT_KINDS))
    quiet_hours: str | None = None
    webhooks: list[str] = Field(default_factory=list)
    webhook_kinds: list[AlertKindName] = Field(default_factory=lambda: list(_ALL_ALERT_KINDS))
    webhook_timeout_s: float = Field(5.0, gt=0.0, le=120.0)
    webhook_attempts: int = Field(5, ge=1, le=50)
    webhook_backoff_s: float = Field(0.5, ge=0.0, le=600.0)
    poll_s: float = Field(0.5, gt=0.0, le=60.0)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours_shape(cls, value: str | None) -> str | None:
        """Quiet hours are 'HH:MM-HH:MM' in local time (may wrap past midnight)."""
        if value is None:
            return None
        from voicedesk.quiet import parse_quiet_hours

        parse_quiet_hours(value)
        return value.strip()


def _default_agents() -> dict[str, AgentSettings]:
    """The example agents of the repo's config.toml, used when no config names any."""
    return {
        "frontend": AgentSettings(kind="coding", aliases=["web", "ui"]),
        "backend": AgentSettings(kind="coding", aliases=["api", "server"]),
        "infra": AgentSettings(kind="shell", aliases=["ops"]),
        "research": AgentSettings(kind="research", aliases=["researcher"]),
    }


class Settings(BaseSettings):
    """All of voicedesk's settings."""

    model_config = SettingsConfigDict(
        env_prefix="VOICEDESK_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    stt: SttSettings = Field(default_factory=SttSettings)
    vad: VadSettings = Field(default_factory=VadSettings)
    intents: IntentSettings = Field(default_factory=IntentSettings)
    listen: ListenSettings = Field(default_factory=ListenSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    agents: dict[str, AgentSettings] = Field(default_factory=_default_agents)
    runner: RunnerSettings = Field(default_factory=RunnerSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    experiments: ExperimentSettings = Field(default_factory=ExperimentSettings)
    speech: SpeechSettings = Field(default_factory=SpeechSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)

    @model_validator(mode="after")
    def _names_unique(self) -> Settings:
        """Every agent name and alias must address exactly one agent."""
        seen: dict[str, str] = {}
        for name, agent in self.agents.items():
            if not name or name != name.strip().lower():
                raise ValueError(f"agent name {name!r} must be lower-case with no spaces around")
            for word in (name, *agent.aliases):
                if seen.get(word, name) != name:
                    raise ValueError(f"{word!r} names both agents {seen[word]!r} and {name!r}")
                seen[word] = name
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment variables beat the file, which is passed in as init values."""
        return env_settings, init_settings

    def data_dir(self) -> Path:
        """The directory holding the store: the configured one or the user's data dir."""
        if self.store.data_dir is not None:
            return self.store.data_dir.expanduser()
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(base) / "voicedesk"

    def worktrees_dir(self) -> Path:
        """Where coding jobs' git worktrees go: the configured folder or DATA_DIR/worktrees."""
        configured = self.runner.worktrees_dir
        return configured.expanduser() if configured is not None else self.data_dir() / "worktrees"

    def experiment_logs_dir(self) -> Path:
        """Where experiment logs go: the configured folder or DATA_DIR/experiments."""
        configured = self.experiments.logs_dir
        if configured is not None:
            return configured.expanduser()
        return self.data_dir() / "experiments"

    def agent_aliases(self) -> dict[str, tuple[str, ...]]:
        """Agent name to its aliases, the shape the intent parser takes."""
        return {name: tuple(agent.aliases) for name, agent in self.agents.items()}


def _describe(error: ValidationError) -> str:
    """One line naming every bad key and why."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "config"
        if item["type"] == "extra_forbidden":
            parts.append(f"{where}: unknown key")
        elif not item["loc"]:
            parts.append(item["msg"].removeprefix("Value error, "))
        else:
            message = item["msg"].removeprefix("Value error, ")
            parts.append(f"{where}: {message} (got {item.get('input')!r})")
    return "; ".join(parts)


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML config file, turning every failure into a ConfigError."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config path is a directory: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None


def default_config_path() -> Path | None:
    """The config file to use when --config is not given: $VOICEDESK_CONFIG or the user's."""
    named = os.environ.get(CONFIG_ENV)
    if named:
        return Path(named)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    user_file = Path(base) / "voicedesk" / "config.toml"
    return user_file if user_file.is_file() else None


def load_settings(path: Path | None = None) -> Settings:
    """Load settings from a file (or the default one) with environment overrides."""
    path = path if path is not None else default_config_path()
    values = read_toml(path) if path is not None else {}
    origin = str(path) if path is not None else "defaults"
    if any(name.startswith("VOICEDESK_") for name in os.environ):
        origin += " + VOICEDESK_* environment"
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(f"config error ({origin}): {_describe(exc)}") from None
