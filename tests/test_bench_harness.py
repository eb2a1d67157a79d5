"""The benchmark harness: figures, the report, scoring, the CLI, and a smoke run of its suites."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmarks/ is not installed: it runs from the checkout

import benchmarks.__main__ as bench_main  # noqa: E402
from benchmarks.harness import (  # noqa: E402
    RESULTS,
    Context,
    Figure,
    Goal,
    SuiteResult,
    agents_config,
    command,
    machine,
    markdown,
    write,
)
from benchmarks.scoring import (  # noqa: E402
    Label,
    corpus_wer,
    load_labels,
    score,
    speech_pairs,
    wer,
    word_errors,
    words,
)

HEADER = "id\ttext\ttype\tagent\tjob\ttask\tfile\tvoice\trate\tsnr_db\tstart\tend\n"


def env() -> dict[str, str]:
    """The environment for a benchmark subprocess: no VOICEDESK_* or API keys, hub offline."""
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("VOICEDESK_", "ANTHROPIC_"))
    }
    return {**environ, "HF_HUB_OFFLINE": "1"}


def about() -> dict[str, object]:
    """A report's `about` block."""
    return {"date": "2026-01-02", "smoke": True, "machine": machine(), "argv": []}


# --- harness ------------------------------------------------------------------------------


def test_goal_meets_and_prints() -> None:
    assert Goal("<=", 1.05).met(1.05) and not Goal("<=", 1.05).met(1.06)
    assert Goal(">=", 0.95).met(0.96) and not Goal(">=", 0.95).met(0.9)
    assert str(Goal("<=", 0.5)) == "≤ 0.5" and str(Goal(">=", 1000)) == "≥ 1000"


def test_figure_median_p95_and_goal() -> None:
    figure = Figure.of("t", "ms", list(range(1, 21)), Goal("<=", 10))
    assert figure.n == 20 and figure.median == 10.5 and figure.p95 == 19
    assert figure.met is False
    empty = Figure.of("t", "ms", [], Goal("<=", 10))
    assert empty.n == 0 and empty.median is None and empty.p95 is None and empty.met is None
    single = Figure.single("ratio", "x", 1.02, Goal("<=", 1.05))
    assert single.n == 1 and single.median == single.p95 == 1.02 and single.met is True
    assert single.to_json()["goal"] == "≤ 1.05" and single.to_json()["samples"] == [1.02]


def test_markdown_and_write(tmp_path: Path) -> None:
    result = SuiteResult(
        "stt", "python -m benchmarks stt", "tiny.en cpu int8",
        (Figure.single("ratio", "x", 1.2, Goal("<=", 1.05)),
         Figure.of("per utterance", "ms", [400, 500, 600])),
    )
    table = markdown([result], about())
    assert "| suite | figure | n | median | p95 | unit | goal | met | model |" in table
    assert "| stt | ratio | 1 | 1.20 | 1.20 | x | ≤ 1.05 | **no** | tiny.en cpu int8 |" in table
    assert "| stt | per utterance | 3 | 500 | 600 | ms |  |  | tiny.en cpu int8 |" in table
    assert "- stt: `python -m benchmarks stt`" in table
    json_path, md_path = write([result], about(), tmp_path / "out", "day")
    assert (json_path.name, md_path.name) == ("day.json", "day.md")
    body = json.loads(json_path.read_text())
    assert body["suites"][0]["figures"][1]["median"] == 500 and body["smoke"] is True
    assert md_path.read_text() == table


def test_command_and_agents_config(tmp_path: Path) -> None:
    ctx = Context(smoke=True, model="tiny.en", device="cpu", compute_type="int8")
    assert command("stt", ctx, "--labelled", "a b") == (
        "python -m benchmarks stt --model tiny.en --device cpu --compute-type int8 --smoke "
        "--labelled 'a b'"
    )
    assert command("vad", Context(smoke=False), model=False) == "python -m benchmarks vad"
    (tmp_path / "dev").mkdir()
    assert agents_config(tmp_path / "dev") is None
    (tmp_path / "agents.toml").write_text("")
    assert agents_config(tmp_path / "dev") == tmp_path / "agents.toml"
    (tmp_path / "dev" / "agents.toml").write_text("")
    assert agents_config(tmp_path / "dev") == tmp_path / "dev" / "agents.toml"


# --- scoring ------------------------------------------------------------------------------


def test_words_and_wer() -> None:
    assert words("Back-end, fix the user's LOGIN test!") == [
        "back", "end", "fix", "the", "user's", "login", "test",
    ]
    assert words(None) == []
    assert wer("fix the flaky login test", "fix the flaky logging test") == 0.2
    assert wer("cancel job three", "cancel job") == pytest.approx(1 / 3)
    assert word_errors("a b", "a x b y") == 2
    assert wer("", "noise") == 1.0 and wer("", "") == 0.0
    assert corpus_wer([("a b c d", "a b c d"), ("e f", "x")]) == pytest.approx(2 / 6)


def label(
    id: str, type: str, start: float, end: float, agent: str | None = None,
    job: int | None = None, task: str = "", text: str | None = None,
) -> Label:
    """A label with the given span and intent fields (text defaults to the task)."""
    return Label(id, text if text is not None else task, type, agent, job, task, "", start, end)


def utterance(start: float, end: float, text: str, **intent: object) -> dict[str, object]:
    """One JSON line of `listen --json`."""
    full = {"type": "unknown", "agent": None, "job": None, "task": None, **intent}
    return {"start": start, "end": end, "transcript": text, "intent": full}


def test_score_right_miss_unheard_and_extra() -> None:
    labels = [
        label("a", "dispatch", 1.0, 3.0, agent="frontend", task="add a dark mode toggle",
              text="Frontend, add a dark mode toggle."),
        label("b", "cancel", 5.0, 6.0, job=3, text="Cancel job three."),
        label("c", "status", 8.0, 9.0, text="Status report."),
    ]
    outputs = [
        utterance(0.0, 0.9, "uh", type="unknown"),  # overlaps nothing: an extra utterance
        utterance(0.8, 3.4, "Frontend, add a dark mode toggle.", type="dispatch",
                  agent="frontend", task="add a dark mode toggle"),
        utterance(4.8, 6.2, "Cancel job 13.", type="cancel", job=13),
        utterance(5.9, 6.5, "three", type="unknown"),  # overlaps b less than the one above
    ]
    scored = score(labels, outputs)
    assert (scored.right, scored.labels, scored.utterances, scored.extra) == (1, 3, 4, 1)
    assert scored.accuracy == pytest.approx(1 / 3)
    assert [miss.id for miss in scored.misses] == ["b", "c"]
    cancel, status = scored.misses
    assert cancel.wanted == {"type": "cancel", "agent": None, "job": 3}
    assert cancel.got["job"] == 13 and cancel.heard == "Cancel job 13."
    assert status.heard == "<no utterance>" and status.got["type"] is None
    assert cancel.line().startswith("MISS b want {'type': 'cancel', 'agent': None, 'job': 3}")
    # words: 6 + 3 + 2 labelled; errors: 0 (a), 1 (three -> 13), 2 (c unheard)
    assert (scored.word_errors, scored.reference_words) == (3, 11)
    assert scored.transcript_wer == pytest.approx(3 / 11)


def test_task_wer_limit() -> None:
    lab = label("a", "dispatch", 0.0, 2.0, agent="backend", task="fix the flaky login test")

    def heard(task: str) -> int:
        """Commands right when the task was heard as `task`."""
        return score([lab], [utterance(0, 2, task, type="dispatch", agent="backend",
                                       task=task)]).right

    assert heard("fix the flaky logging test") == 1  # WER 0.2
    assert heard("fix the flaky logging tests") == 0  # WER 0.4 > 0.35
    experiment = label("e", "experiment", 0.0, 2.0, task="with half the warmup")
    assert score([experiment], [utterance(0, 2, "", type="experiment", task=None)]).right == 0


def test_load_labels_and_speech_pairs(tmp_path: Path) -> None:
    (tmp_path / "labels.tsv").write_text(
        HEADER
        + "d1\tCancel job 3.\tcancel\t\t3\t\td1.wav\tespeak\t1.1\t\t0.800\t2.5\n"
        + "d2\tUI, fix it.\tdispatch\tfrontend\t\tfix it\td2.wav\tespeak\t1.0\t15\t4\t6\n"
    )
    one, two = load_labels(tmp_path / "labels.tsv")
    assert (one.job, one.agent, one.start, one.end, one.file) == (3, None, 0.8, 2.5, "d1.wav")
    assert (two.agent, two.job, two.task) == ("frontend", None, "fix it")
    tsv = tmp_path / "tsv"
    tsv.mkdir()
    (tsv / "transcripts.tsv").write_text("yes/a.wav\tyes\tyes\nb.wav\tGo forward.\t\n")
    assert speech_pairs(tsv) == [(tsv / "yes/a.wav", "yes"), (tsv / "b.wav", "Go forward.")]
    txt = tmp_path / "txt"
    txt.mkdir()
    for name in ("b", "a", "lonely"):
        (txt / f"{name}.wav").write_bytes(b"")
    (txt / "a.txt").write_text("hello world\n")
    (txt / "b.txt").write_text("bye")
    assert speech_pairs(txt) == [(txt / "a.wav", "hello world"), (txt / "b.wav", "bye")]


def test_repo_labelled_set_is_consistent() -> None:
    folder = ROOT / "tests" / "fixtures" / "labelled"
    labels = load_labels(folder / "labels.tsv")
    assert len(labels) == 7 and agents_config(folder) == folder / "agents.toml"
    assert all((folder / lab.file).is_file() for lab in labels)
    assert all(a.end < b.start for a, b in itertools.pairwise(labels))
    assert (folder / "stream.wav").stat().st_size <= 20 * 32_000 + 100  # at most 20 s


# --- the CLI, with fake suites ---------------------------------------------------------------


def fake_suite(name: str, ctx: Context) -> SuiteResult:
    """A suite that measures nothing; `boom` raises."""
    if name == "stt":
        raise RuntimeError("boom\nsecond line")
    return SuiteResult(name, f"python -m benchmarks {name}", "none",
                       (Figure.of("x", "ms", [1.0, 2.0]),))


def test_a_failing_suite_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(bench_main, "run_suite", fake_suite)
    code = bench_main.main(["stt", "vad", "--out", str(tmp_path), "--stem", "s"])
    captured = capsys.readouterr()
    assert code == 1
    assert "bench: stt failed: RuntimeError: boom\n" in captured.err
    assert "second line" not in captured.err
    assert "| vad | x | 2 | 1.50 |" in captured.out and "| stt |" not in captured.out
    assert [s["suite"] for s in json.loads((tmp_path / "s.json").read_text())["suites"]] == [
        "vad"
    ]


def test_all_suites_in_order_and_smoke_never_writes_results(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ran: list[str] = []

    def record(name: str, ctx: Context) -> SuiteResult:
        """Note the suite and its context."""
        ran.append(name)
        assert ctx.smoke and ctx.device == "cpu"
        return fake_suite("vad", ctx)

    monkeypatch.setattr(bench_main, "run_suite", record)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert bench_main.main(["--smoke"]) == 0
    assert ran == ["stt", "e2e", "vad", "accuracy", "service", "queue"]
    wrote = capsys.readouterr().err.splitlines()[-1]
    assert wrote.startswith(f"bench: wrote {tmp_path}/voicedesk-bench-smoke-")
    assert str(RESULTS) not in wrote


def test_unknown_suite_exits_2_with_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "stt", "nope"], capture_output=True, text=True,
        timeout=60, cwd=ROOT, env=env(), check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "bench: unknown suite 'nope' (choose from stt, e2e, vad, accuracy, service, queue)"
    ]


def test_voicedesk_bench_without_a_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from voicedesk import cli_bench
    from voicedesk.cli import app

    assert cli_bench.source_root(tmp_path / "site-packages" / "voicedesk") is None
    assert cli_bench.source_root() == ROOT
    monkeypatch.setattr(cli_bench, "source_root", lambda: None)
    result = CliRunner().invoke(app, ["bench", "vad", "--smoke"])
    assert result.exit_code == 1
    assert cli_bench.NO_CHECKOUT in result.output


# --- smoke runs of the real suites -----------------------------------------------------------


def test_voicedesk_bench_runs_a_suite(tmp_path: Path) -> None:
    voicedesk = Path(sys.executable).parent / "voicedesk"
    done = subprocess.run(
        [str(voicedesk), "bench", "vad", "--smoke", "--out", str(tmp_path), "--stem", "v"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env(), check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| vad | VAD CPU per second of audio |" in done.stdout
    suites = json.loads((tmp_path / "v.json").read_text())["suites"]
    assert [s["suite"] for s in suites] == ["vad"]


@pytest.mark.model
def test_smoke_run_of_every_cpu_suite(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "stt", "vad", "accuracy", "queue", "--smoke",
         "--out", str(tmp_path), "--stem", "smoke"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env(), check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| suite | figure | n | median | p95 | unit | goal | met | model |" in done.stdout
    body = json.loads((tmp_path / "smoke.json").read_text())
    assert body["smoke"] is True and body["machine"]["cores"]
    suites = {s["suite"]: s for s in body["suites"]}
    assert list(suites) == ["stt", "vad", "accuracy", "queue"]
    for name, suite in suites.items():
        assert suite["command"].startswith(f"python -m benchmarks {name}"), suite["command"]
        assert suite["figures"], name
        for figure in suite["figures"]:
            assert figure["n"] > 0 and math.isfinite(figure["median"]), (name, figure)
            assert f"| {name} | {figure['name']} | {figure['n']} |" in done.stdout
    figures = {s: {f["name"]: f for f in suites[s]["figures"]} for s in suites}
    assert figures["stt"]["overhead ratio (ours/bare, medians)"]["goal"] == "≤ 1.05"
    assert figures["stt"]["ours per utterance"]["n"] == 2  # 1 round of 2 clips
    assert 0.0 <= figures["accuracy"]["intent accuracy"]["median"] <= 1.0
    assert figures["accuracy"]["transcribe per utterance"]["n"] >= 1
    assert figures["queue"]["enqueue (Ledger.submit) latency"]["n"] == 30
    assert not list(ROOT.glob(".queue-bench-*")), "the throwaway store was left behind"


def test_gpu_script_parses_and_runs_the_three_gpu_suites() -> None:
    script = ROOT / "benchmarks" / "gpu.sh"
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    body = script.read_text()
    assert "-m benchmarks stt e2e service" in body and "--device cuda" in body
    assert "no_cuda_message" in body  # a box without CUDA stops with the one-line reason


def test_gpu_script_on_a_box_without_cuda_stops_with_the_reason() -> None:
    from voicedesk.stt.models import cuda_device_count

    if cuda_device_count() > 0:
        pytest.skip("this machine has CUDA: the GPU run itself is benchmarks/gpu.sh")
    venv = Path(sys.executable).parent.parent
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu.sh")], capture_output=True, text=True,
        env={**os.environ, "VENV": str(venv), "INSTALL": "0"}, timeout=120, check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("gpu.sh: stt.device = 'cuda'")
