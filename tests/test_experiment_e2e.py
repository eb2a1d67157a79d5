"""By voice, end to end: "queue an experiment that halves the warmup" → the research agent
(the real anthropic client against the fake API) writes the patch → `voicedesk worker` runs
the demo training script → keep → "what's the best result so far" answers with it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fake_anthropic import Answer, FakeAnthropic, text, tool_use
from live_process import voicedesk, voicedesk_env

from voicedesk.store import Store

ROOT = Path(__file__).parent.parent
PATCH = (ROOT / "examples" / "tiny-train" / "patches" / "halve-warmup.patch").read_text()


def research_model(body: dict[str, Any]) -> Answer:
    """A model that reads the training file, submits the patch, then finishes."""
    done = [b["name"] for m in body["messages"] if m["role"] == "assistant"
            for b in (m["content"] if isinstance(m["content"], list) else [])
            if b.get("type") == "tool_use"]
    if "read_training_file" not in done:
        return tool_use("read_training_file", {"experiment_id": 1})
    if "submit_patch" not in done:
        return tool_use("submit_patch", {"experiment_id": 1, "patch": PATCH})
    if "finish" not in done:
        return tool_use("finish", {"summary": "Experiment 1 is queued with the warmup halved."})
    return text("done")


def test_a_spoken_experiment_is_patched_run_kept_and_reported(tmp_path: Path) -> None:
    repo = tmp_path / "tiny-train"
    subprocess.run([str(ROOT / "scripts" / "make_demo_repo.sh"), str(repo)], check=True,
                   capture_output=True)
    config = tmp_path / "voicedesk.toml"
    config.write_text(
        f'[store]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[experiments]\nrepo = "{repo}"\ncommand = "python3 train.py"\n'
        "budget_s = 5.0\nhard_limit_s = 30.0\nlease_s = 5.0\n"
        '[agents.research]\nkind = "research"\n'
    )
    store = Store.in_dir(tmp_path / "data")
    with FakeAnthropic(research_model) as fake:
        env = voicedesk_env(tmp_path, ANTHROPIC_API_KEY="k", ANTHROPIC_BASE_URL=fake.base_url)
        said = subprocess.run(
            [sys.executable, "-m", "voicedesk", "say", "--json",
             "queue an experiment that halves the warmup", "--config", str(config)],
            capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL,
        )
    assert said.returncode == 0, said.stderr
    lines = [json.loads(line) for line in said.stdout.splitlines()]
    assert lines[0]["intent"]["type"] == "experiment"
    assert lines[-1]["event"] == "job_ended" and lines[-1]["status"] == "done", lines[-1]
    queued = store.experiment(1)
    assert queued is not None and (queued.status, queued.patch) == ("queued", PATCH)

    worker = subprocess.Popen(
        [sys.executable, "-m", "voicedesk", "worker", "--gpus", "cpu", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=voicedesk_env(tmp_path),
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while store.experiment(1).status in ("queued", "running"):  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the experiment did not finish"
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(20)
    kept = store.experiment(1)
    assert kept is not None and kept.status == "keep", kept
    assert kept.metric_value == 0.940499 and kept.peak_vram_mb == 45056.0
    answer = voicedesk(["say", "what's the best result so far"], tmp_path, config)
    assert "Best val_bpb 0.940499, experiment 1 (halves the warmup)" in answer.stdout
    exported = voicedesk(["experiments", "export"], tmp_path, config)
    assert exported.stdout.splitlines()[1].split("\t")[1:] == [
        "0.940499", "44.0", "keep", "halves the warmup"
    ]
