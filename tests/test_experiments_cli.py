"""The experiment commands as separate processes on one store: submit, experiments (the table,
--json, export) and worker's argument errors; results.tsv and the status lines as functions."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from live_process import voicedesk

from voicedesk.cli_experiments import parse_gpus, watch
from voicedesk.config import ExperimentSettings
from voicedesk.errors import VoicedeskError
from voicedesk.experiments.export import results_tsv
from voicedesk.experiments.ledger import Ledger, RunResult, Submission
from voicedesk.store import Store
from voicedesk.types import Experiment

PATCH = "--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n-WARMUP = 100\n+WARMUP = 50\n"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config with a store under tmp_path and one attempt per experiment."""
    path = tmp_path / "voicedesk.toml"
    path.write_text(f'[store]\ndata_dir = "{tmp_path / "data"}"\n'
                    "[experiments]\nmax_attempts = 1\nmetric_name = \"val_bpb\"\n")
    return path


def _ledger(config: Path) -> Ledger:
    """The ledger the config points at."""
    return Ledger(Store.in_dir(config.parent / "data"), ExperimentSettings(max_attempts=1))


def _one_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    """The command failed with exactly this one line on stderr and nothing on stdout."""
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"voicedesk: error: {message}\n"


def test_submit_prints_the_id_and_a_repeated_key_is_a_no_op(
    tmp_path: Path, config: Path
) -> None:
    patch = tmp_path / "warmup.diff"
    patch.write_text(PATCH)
    args = ["submit", "--patch", str(patch), "--description", "halve the warmup",
            "--key", "k1", "--branch", "exp/warmup", "--budget", "120", "--repo", "repo"]
    first = voicedesk(args, tmp_path, config)
    assert (first.returncode, first.stdout, first.stderr) == (0, "1\n", "")
    again = voicedesk(args, tmp_path, config)
    assert (again.returncode, again.stdout) == (0, "1\n")
    assert again.stderr == "experiment 1 was already submitted with this key\n"
    plain = voicedesk(["submit", "--command", "python train.py --fast"], tmp_path, config)
    assert (plain.returncode, plain.stdout) == (0, "2\n")

    made = _ledger(config).get(1)
    assert made is not None
    assert (made.description, made.patch, made.branch, made.budget_s) == (
        "halve the warmup", PATCH, "exp/warmup", 120.0)
    assert (made.command, made.proposed_by, made.status) == ("uv run train.py", "cli", "queued")
    assert made.repo is not None and Path(made.repo).is_absolute()
    other = _ledger(config).get(2)
    assert other is not None and other.patch is None
    assert (other.description, other.command) == ("python train.py --fast",) * 2


def _finish(ledger: Ledger, metric: float | None, memory: float | None, sha: str | None,
            code: int = 0) -> None:
    """Run the oldest queued experiment to its end, as a worker would."""
    claimed = ledger.claim("w1", gpu="0")
    assert claimed is not None
    ledger.finish(claimed.id, "w1", RunResult(code, metric, memory, "run.log", sha))


def _fill(ledger: Ledger) -> None:
    """Three finished runs, one cancelled, one still queued."""
    for words in ("baseline", "halve\tthe\nwarmup", "double the width (OOM)", "cancel me",
                  "waiting"):
        ledger.submit(Submission(description=words, proposed_by="test"))
    _finish(ledger, 0.9979, 45_056.0, "a1b2c3d4e5f6")
    _finish(ledger, 1.0050, 45_260.8, "b2c3d4e5f6a7")
    _finish(ledger, None, 80_000.0, None, code=1)
    ledger.cancel(4, "not needed")


EXPECTED_TSV = (
    "commit\tval_bpb\tmemory_gb\tstatus\tdescription\n"
    "a1b2c3d\t0.997900\t44.0\tkeep\tbaseline\n"
    "b2c3d4e\t1.005000\t44.2\tdiscard\thalve the warmup\n"
    "-------\t0.000000\t0.0\tcrash\tdouble the width (OOM)\n"
)


def test_table_json_and_export(tmp_path: Path, config: Path) -> None:
    _fill(_ledger(config))
    table = voicedesk(["experiments"], tmp_path, config)
    assert table.returncode == 0, table.stderr
    header = table.stdout.splitlines()[1]
    for column in ("id", "status", "val_bpb", "memory GB", "description", "proposed by",
                   "reason"):
        assert column in header
    assert "0.9979" in table.stdout and "44.0" in table.stdout
    assert "exited with code 1 (after 1 attempts)" in table.stdout

    lines = voicedesk(["experiments", "--json", "--status", "keep"], tmp_path, config)
    assert [json.loads(line)["id"] for line in lines.stdout.splitlines()] == [1]
    assert "patch" not in json.loads(lines.stdout)
    none = voicedesk(["experiments", "--status", "running"], tmp_path, config)
    assert none.stdout == "No running experiments.\n"

    exported = voicedesk(["experiments", "export"], tmp_path, config)
    assert (exported.returncode, exported.stdout) == (0, EXPECTED_TSV)
    out = tmp_path / "results.tsv"
    written = voicedesk(["experiments", "export", "--out", str(out)], tmp_path, config)
    assert (written.returncode, written.stdout) == (0, "")
    assert written.stderr == f"wrote 3 runs to {out}\n"
    assert out.read_text() == EXPECTED_TSV


def test_an_empty_ledger(tmp_path: Path, config: Path) -> None:
    assert voicedesk(["experiments"], tmp_path, config).stdout == "No experiments yet.\n"
    exported = voicedesk(["experiments", "export"], tmp_path, config)
    assert exported.stdout == "commit\tval_bpb\tmemory_gb\tstatus\tdescription\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["submit", "--patch", "nope.diff"], "no patch file nope.diff"),
        (["submit", "--patch", "empty.diff"], "patch file empty.diff is empty"),
        (["submit", "--patch", "."], ". is a folder, not a patch file"),
        (["submit", "--budget", "900"],
         "--budget must be above 0 and at most [experiments] hard_limit_s (600 s), not 900"),
        (["submit", "--budget", "0"],
         "--budget must be above 0 and at most [experiments] hard_limit_s (600 s), not 0"),
        (["submit", "--key", " "], "--key is blank"),
        (["submit", "--command", ""], "--command is blank"),
        (["submit", "--description", " "], "--description is blank"),
        (["experiments", "--status", "done"],
         "unknown status 'done': use queued, running, keep, discard, crash, cancelled, "
         "needs_change"),
        (["experiments", "export", "--out", "no/such/folder/results.tsv"],
         "cannot write no/such/folder/results.tsv: No such file or directory"),
        (["worker", "--gpus", "abc"], "--gpus takes GPU numbers like 0,1 or cpu, not 'abc'"),
        (["worker", "--gpus", "0,1,0"], "--gpus names a GPU twice: '0,1,0'"),
        (["worker", "--gpus", ""], "--gpus takes GPU numbers like 0,1 or cpu, not ''"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
    message: str
) -> None:
    (tmp_path / "empty.diff").write_text("\n")
    monkeypatch.chdir(tmp_path)
    _one_error(voicedesk(args, tmp_path, config), message)
    assert _ledger(config).all() == []


def test_worker_refuses_gpus_with_the_ray_backend(tmp_path: Path) -> None:
    config = tmp_path / "ray.toml"
    config.write_text(f'[store]\ndata_dir = "{tmp_path / "data"}"\n'
                      '[experiments]\nbackend = "ray"\nray_address = "http://127.0.0.1:9"\n')
    result = voicedesk(["worker", "--gpus", "0"], tmp_path, config)
    _one_error(result, '--gpus is for the embedded backend; with backend = "ray" the Ray '
                       "cluster places each run")


def test_parse_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_gpus("0,1") == ["0", "1"]
    assert parse_gpus(" 3 , 01 ") == ["3", "1"]
    assert parse_gpus("CPU") == ["cpu"]
    with pytest.raises(VoicedeskError, match="names a GPU twice"):
        parse_gpus("1,01")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert parse_gpus(None) == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert parse_gpus(None) == ["cpu"]


def _experiment(id: int, status: str, **fields: object) -> Experiment:
    """A ledger row for the pure tests."""
    return Experiment(id=id, description=f"run {id}", status=status, proposed_by="t",
                      created_at=0.0, **fields)  # type: ignore[arg-type]


def test_results_tsv_keeps_finished_runs_oldest_first() -> None:
    rows = [
        _experiment(3, "keep", metric_value=0.5, peak_vram_mb=1536.0, commit_sha="c" * 40),
        _experiment(2, "queued"),
        _experiment(1, "discard", metric_value=2.25, peak_vram_mb=None, commit_sha="abc"),
        _experiment(4, "cancelled", metric_value=0.1),
        _experiment(5, "crash", metric_value=9.0, peak_vram_mb=99.0, commit_sha="d" * 40),
    ]
    assert results_tsv(rows, "val loss") == (
        "commit\tval loss\tmemory_gb\tstatus\tdescription\n"
        "abc\t2.250000\t0.0\tdiscard\trun 1\n"
        "ccccccc\t0.500000\t1.5\tkeep\trun 3\n"
        "ddddddd\t0.000000\t0.0\tcrash\trun 5\n"
    )


def test_watch_prints_a_line_per_status_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = Ledger(Store.in_dir(tmp_path), ExperimentSettings(max_attempts=1))
    ledger.submit(Submission(description="before the worker", proposed_by="t"))

    async def scenario() -> None:
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch(ledger, stop, poll_s=0.02))
        await asyncio.sleep(0.1)
        claimed = ledger.claim("w1", gpu="1")
        assert claimed is not None
        await asyncio.sleep(0.1)
        ledger.finish(claimed.id, "w1", RunResult(0, 0.98, 1000.0, "run.log", "abc"))
        ledger.submit(Submission(description="next", proposed_by="t"))
        stop.set()
        await watcher

    asyncio.run(scenario())
    lines = [line.split(" ", 1)[1] for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        "#1 running before the worker on w1 gpu 1",
        "#1 keep before the worker: val_bpb 0.98 vs best kept no kept result yet",
        "#2 queued next",
    ]
