"""`voicedesk bench [ARGS...]`: run the benchmark harness from a source checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

import voicedesk
from voicedesk.cli_display import err

NO_CHECKOUT = (
    "voicedesk bench needs a source checkout: benchmarks/ is not installed with the package"
)

CONTEXT_SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True}
"""Every argument, options included, goes through to `python -m benchmarks`."""


def source_root(package: Path | None = None) -> Path | None:
    """The repository root holding benchmarks/__main__.py next to the package; else None."""
    package = package if package is not None else Path(voicedesk.__file__).resolve().parent
    root = package.parent
    return root if (root / "benchmarks" / "__main__.py").is_file() else None


def bench(ctx: typer.Context) -> None:
    """Run the benchmarks: `python -m benchmarks ARGS...` in the repo root (see --help)."""
    root = source_root()
    if root is None:
        err.print(NO_CHECKOUT, markup=False)
        raise typer.Exit(1)
    done = subprocess.run([sys.executable, "-m", "benchmarks", *ctx.args], cwd=root, check=False)
    raise typer.Exit(done.returncode)
