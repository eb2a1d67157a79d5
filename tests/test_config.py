"""Config loading: defaults, the documented config.toml, agents-only files, env, errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from voicedesk.config import Settings, load_settings
from voicedesk.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, body: str) -> Path:
    """Write a config file and return its path."""
    path = tmp_path / "config.toml"
    path.write_text(body)
    return path


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No VOICEDESK_* variable or user config leaks in from the machine."""
    import os

    for name in list(os.environ):
        if name.startswith("VOICEDESK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))


def test_repo_config_toml_is_exactly_the_defaults() -> None:
    assert load_settings(REPO / "config.toml") == Settings()


def test_agents_only_file_is_a_whole_config(tmp_path: Path) -> None:
    path = write(tmp_path, '[agents.docs]\nkind = "coding"\naliases = ["Writer"]\n')
    settings = load_settings(path)
    assert list(settings.agents) == ["docs"]
    assert settings.agents["docs"].aliases == ["writer"]
    assert settings.stt.model == "tiny.en"
    assert settings.vad.hangover_ms == 500


def test_environment_beats_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[stt]\nbeam_size = 3\n")
    monkeypatch.setenv("VOICEDESK_STT__BEAM_SIZE", "1")
    monkeypatch.setenv("VOICEDESK_STORE__DATA_DIR", str(tmp_path / "data"))
    settings = load_settings(path)
    assert settings.stt.beam_size == 1
    assert settings.data_dir() == tmp_path / "data"


def test_config_env_var_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEDESK_CONFIG", str(write(tmp_path, "[vad]\nhangover_ms = 700\n")))
    assert load_settings().vad.hangover_ms == 700


def test_default_data_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert Settings().data_dir() == tmp_path / "voicedesk"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[stt]\nmodle = 'x'\n", "stt.modle: unknown key"),
        ("[sst]\nmodel = 'x'\n", "sst: unknown key"),
        ("[stt]\nbeam_size = 'five'\n", "stt.beam_size: Input should be a valid integer"),
        ("[vad]\nframe_ms = 25\n", "vad.frame_ms: Input should be 10, 20 or 30"),
        ("[vad]\naggressiveness = 9\n", "vad.aggressiveness"),
        ("[agents.bot]\nkind = 'robot'\n", "agents.bot.kind: Input should be 'coding', 'research'"),
        ("[agents.bot]\naliases = ['b']\n", "agents.bot.kind: Field required"),
        ("[agents.bot]\nkind = 'shell'\ncolour = 'red'\n", "agents.bot.colour: unknown key"),
        (
            "[agents.a]\nkind = 'shell'\naliases = ['x']\n"
            "[agents.b]\nkind = 'shell'\naliases = ['x']\n",
            "'x' names both agents 'a' and 'b'",
        ),
        ("[agents.Big]\nkind = 'shell'\n", "must be lower-case"),
        ("[stt\nmodel = 1\n", "is not valid TOML"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, body))
    text = str(caught.value)
    assert message in text
    assert "\n" not in text


def test_bad_environment_value_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEDESK_VAD__HANGOVER_MS", "soon")
    with pytest.raises(ConfigError, match=r"vad.hangover_ms.*VOICEDESK_\* environment|environment"):
        load_settings(None)


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file not found: .*nope\.toml"):
        load_settings(tmp_path / "nope.toml")


def test_readme_agent_examples_are_a_valid_config() -> None:
    """The TOML example under README's 'Agents' heading loads, one agent of each kind."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("## Agents") :]
    block = section[section.index("```toml") + len("```toml") : section.index("```\n", 10)]
    settings = Settings(**tomllib.loads(block))
    assert {a.kind for a in settings.agents.values()} == {"coding", "research", "shell"}
    assert settings.agents["ops"].commands["run the tests"] == "pytest -q"
