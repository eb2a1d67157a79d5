"""The harness's core: figures with median and p95, a suite's result, the machine, the report."""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicedesk.stats import percentile

if TYPE_CHECKING:
    from voicedesk.config import Settings

ROOT = Path(__file__).resolve().parent.parent
"""The repository root (benchmarks/ runs from a source checkout)."""

RESULTS = ROOT / "benchmarks" / "results"
"""Where `python -m benchmarks` writes `<date>.json` and `<date>.md` by default."""

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda value, bound: value <= bound,
    ">=": lambda value, bound: value >= bound,
}


@dataclass(frozen=True)
class Goal:
    """A target a figure's median must meet: `op` is "<=" or ">="."""

    op: str
    bound: float

    def met(self, value: float) -> bool:
        """True when `value` meets the goal."""
        return _COMPARE[self.op](value, self.bound)

    def __str__(self) -> str:
        """"≤ 1.05" or "≥ 0.95"."""
        return f"{'≤' if self.op == '<=' else '≥'} {self.bound:g}"


@dataclass(frozen=True)
class Figure:
    """One measured quantity: its samples, unit and optional goal; median and p95 derived."""

    name: str
    unit: str
    samples: tuple[float, ...]
    goal: Goal | None = None
    note: str = ""

    @classmethod
    def of(
        cls, name: str, unit: str, samples: Sequence[float], goal: Goal | None = None,
        note: str = "",
    ) -> Figure:
        """A figure from a list of samples (an empty list is a figure with n = 0)."""
        return cls(name, unit, tuple(float(s) for s in samples), goal, note)

    @classmethod
    def single(
        cls, name: str, unit: str, value: float, goal: Goal | None = None, note: str = ""
    ) -> Figure:
        """A figure that is one value (a ratio, an accuracy): median = p95 = value."""
        return cls(name, unit, (float(value),), goal, note)

    @property
    def n(self) -> int:
        """How many samples."""
        return len(self.samples)

    @property
    def median(self) -> float | None:
        """The median, or None without samples."""
        return statistics.median(self.samples) if self.samples else None

    @property
    def p95(self) -> float | None:
        """The nearest-rank 95th percentile, or None without samples."""
        return percentile(list(self.samples), 0.95) if self.samples else None

    @property
    def met(self) -> bool | None:
        """Whether the median meets the goal; None without a goal or samples."""
        median = self.median
        return None if self.goal is None or median is None else self.goal.met(median)

    def to_json(self) -> dict[str, Any]:
        """The figure for the results file (samples included, so a reader can recompute)."""
        return {
            "name": self.name, "unit": self.unit, "n": self.n,
            "median": _round(self.median), "p95": _round(self.p95),
            "goal": str(self.goal) if self.goal else None, "met": self.met,
            "note": self.note, "samples": [_round(s) for s in self.samples],
        }


@dataclass(frozen=True)
class SuiteResult:
    """What one suite measured, with the model it used and the command that reproduces it."""

    suite: str
    command: str
    model: str
    figures: tuple[Figure, ...]
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The suite's entry in the results file."""
        return {
            "suite": self.suite, "command": self.command, "model": self.model,
            "figures": [figure.to_json() for figure in self.figures],
            "details": self.details,
        }


@dataclass(frozen=True)
class Context:
    """What every suite is given: smoke size or not, the model settings, data folders."""

    smoke: bool
    model: str = "tiny.en"
    device: str = "cpu"
    compute_type: str = "auto"
    labelled: Path | None = None
    """A labelled command set: a folder with labels.tsv and stream.wav (and agents.toml)."""
    speech: Path | None = None
    """A folder of WAV + transcript pairs (transcripts.tsv or NAME.txt) for WER."""
    extra: dict[str, Any] = field(default_factory=dict)

    def model_label(self) -> str:
        """"tiny.en cpu int8"-style label for the report."""
        compute = self.compute_type
        if compute == "auto":
            compute = "float16" if self.device == "cuda" else "int8"
        return f"{self.model} {self.device} {compute}"


def machine() -> dict[str, Any]:
    """The machine the figures came from."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(), "machine": platform.machine(), "cpu": cpu,
        "cores": os.cpu_count(), "python": platform.python_version(), "gpu": _gpu_name(),
    }


def _gpu_name() -> str | None:
    """The first CUDA device CTranslate2 sees, by name where nvidia-smi is there; else None."""
    from voicedesk.stt.models import cuda_device_count

    if cuda_device_count() == 0:
        return None
    import shutil
    import subprocess

    if shutil.which("nvidia-smi"):
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=False,
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip().splitlines()[0]
    return "cuda"


def _round(value: float | None) -> float | None:
    """Four significant decimals for the files; None stays None."""
    return None if value is None else round(value, 4)


def _cell(value: float | None) -> str:
    """A table cell: compact, with no exponent for ordinary magnitudes."""
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def markdown(results: Sequence[SuiteResult], about: dict[str, Any]) -> str:
    """The report: the machine, then one row per figure with median, p95, goal, model, command."""
    lines = [
        f"# voicedesk benchmarks, {about.get('date', '')}",
        "",
        f"Machine: {about['machine'].get('cpu') or about['machine'].get('machine')}, "
        f"{about['machine'].get('cores')} cores, GPU: {about['machine'].get('gpu') or 'none'}; "
        f"{about['machine'].get('platform')}. Smoke size: {about.get('smoke')}.",
        "",
        "| suite | figure | n | median | p95 | unit | goal | met | model |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for figure in result.figures:
            met = {True: "yes", False: "**no**", None: ""}[figure.met]
            lines.append(
                f"| {result.suite} | {figure.name} | {figure.n} | {_cell(figure.median)} | "
                f"{_cell(figure.p95)} | {figure.unit} | {figure.goal or ''} | {met} | "
                f"{result.model} |"
            )
    lines += ["", "Commands:", ""]
    lines += [f"- {result.suite}: `{result.command}`" for result in results]
    return "\n".join(lines) + "\n"


def write(
    results: Sequence[SuiteResult], about: dict[str, Any], out: Path, stem: str
) -> tuple[Path, Path]:
    """Write `<stem>.json` and `<stem>.md` under `out`; both paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    body = {**about, "suites": [result.to_json() for result in results]}
    json_path.write_text(json.dumps(body, indent=1) + "\n")
    md_path.write_text(markdown(results, about))
    return json_path, md_path


def command(suite: str, ctx: Context, *extra: str, model: bool = True) -> str:
    """The shell command that reproduces one suite with this context's size (and model)."""
    parts = [suite]
    if model:
        parts += ["--model", ctx.model, "--device", ctx.device]
    if model and ctx.compute_type != "auto":
        parts += ["--compute-type", ctx.compute_type]
    if ctx.smoke:
        parts.append("--smoke")
    return " ".join(["python -m benchmarks", *(shlex.quote(part) for part in (*parts, *extra))])


def agents_config(folder: Path) -> Path | None:
    """A labelled folder's agents.toml, or its parent's (the dev set keeps it one level up)."""
    for candidate in (folder / "agents.toml", folder.parent / "agents.toml"):
        if candidate.is_file():
            return candidate
    return None


def settings_for(ctx: Context, config: Path | None = None) -> Settings:
    """voicedesk's settings for a suite: the defaults (or `config`) with the context's model."""
    from voicedesk.config import Settings, load_settings

    base = load_settings(config) if config is not None else Settings()
    stt = base.stt.model_copy(
        update={"model": ctx.model, "device": ctx.device, "compute_type": ctx.compute_type}
    )
    return base.model_copy(update={"stt": stt})
