"""`python -m benchmarks [SUITE...]`: run suites, write `<date>.json` and `.md`, print the table.

Suites: stt, e2e, vad, accuracy, service, queue (none named: all, in that order). A suite
that fails is one line on stderr and exit status 1; the others still run. Goals not met do
not fail the run: they show as **no** in the table. --smoke runs every suite at a tiny size
(for CI) and, without --out, writes to a fresh temporary folder, never to benchmarks/results.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.harness import RESULTS, Context, SuiteResult, machine, markdown, write
from voicedesk.errors import VoicedeskError

SUITES = ("stt", "e2e", "vad", "accuracy", "service", "queue")
"""Every suite, in the order a full run takes them."""

log = logging.getLogger("benchmarks")


def parser() -> argparse.ArgumentParser:
    """The command line's options."""
    from voicedesk.config import SttSettings

    stt = SttSettings()
    parse = argparse.ArgumentParser(
        prog="python -m benchmarks", description=(__doc__ or "").splitlines()[0]
    )
    parse.add_argument("suites", nargs="*", metavar="SUITE", help=f"any of {', '.join(SUITES)}")
    parse.add_argument("--smoke", action="store_true", help="a tiny size of every suite (CI)")
    parse.add_argument("--out", type=Path, help=f"results folder (default {RESULTS})")
    parse.add_argument("--stem", help="results file name without suffix (default: today)")
    parse.add_argument("--model", default=stt.model, help=f"speech model (default {stt.model})")
    parse.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    parse.add_argument("--compute-type", default="auto", help="CTranslate2 compute type")
    parse.add_argument("--labelled", type=Path, help="labelled command set (labels.tsv ...)")
    parse.add_argument("--speech", type=Path, help="WAV + transcript folder for WER")
    parse.add_argument(
        "--steps", action="store_true",
        help="accuracy: also score each hearing step on its own (one-best, n-best, cascade, 10 s)",
    )
    parse.add_argument(
        "--in-process", action="store_true",
        help="e2e: feed the live listener real-time frames in-process, even with PulseAudio",
    )
    return parse


def context(args: argparse.Namespace) -> Context:
    """The context every suite gets, with `auto` resolved to the device CTranslate2 sees."""
    from voicedesk.stt.models import pick_device

    return Context(
        smoke=args.smoke, model=args.model, device=pick_device(args.device),
        compute_type=args.compute_type, labelled=args.labelled, speech=args.speech,
        extra={"steps": args.steps, "in_process": args.in_process},
    )


def run_suite(name: str, ctx: Context) -> SuiteResult:
    """Import `benchmarks.suite_<name>` and run it."""
    module = importlib.import_module(f"benchmarks.suite_{name}")
    result: SuiteResult = module.run(ctx)
    return result


def reason(exc: BaseException) -> str:
    """One line saying why a suite failed."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def output_folder(args: argparse.Namespace) -> Path:
    """Where the results go: --out, a fresh temporary folder for a smoke run, or RESULTS."""
    if args.out is not None:
        return Path(args.out)
    if args.smoke:
        return Path(tempfile.mkdtemp(prefix="voicedesk-bench-smoke-"))
    return RESULTS


def progress_to_stderr() -> None:
    """Send the suites' progress lines (the "benchmarks" logger) to stderr, bare."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def main(argv: list[str] | None = None) -> int:
    """Run the named suites (all without names); the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    unknown = [name for name in args.suites if name not in SUITES]
    if unknown:
        print(
            f"bench: unknown suite {unknown[0]!r} (choose from {', '.join(SUITES)})",
            file=sys.stderr,
        )
        return 2
    progress_to_stderr()
    try:
        ctx = context(args)
    except VoicedeskError as exc:  # e.g. --device cuda where CTranslate2 has no CUDA
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    results: list[SuiteResult] = []
    failed = False
    for name in args.suites or SUITES:
        log.info("bench: %s ...", name)
        try:
            results.append(run_suite(name, ctx))
        except Exception as exc:  # one suite's failure must not stop the others
            print(f"bench: {name} failed: {reason(exc)}", file=sys.stderr)
            failed = True
    about: dict[str, Any] = {
        "date": date.today().isoformat(), "smoke": args.smoke, "machine": machine(),
        "argv": ["python", "-m", "benchmarks", *argv],
    }
    if results:
        json_path, md_path = write(results, about, output_folder(args), args.stem or about["date"])
        print(markdown(results, about), end="")
        print(f"bench: wrote {json_path} and {md_path}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
