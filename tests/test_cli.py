"""The `voicedesk` command as a user runs it: a real process, the real model, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TIMEOUT = 120


def run(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m voicedesk ARGS` with its data and config dirs under `home`."""
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("VOICEDESK_", "ANTHROPIC_"))
    }
    environ.update(XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config"),
                   HF_HUB_OFFLINE="1", **env)
    return subprocess.run(
        [sys.executable, "-m", "voicedesk", *args], capture_output=True, text=True,
        timeout=TIMEOUT, env=environ, stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    """A non-zero exit with exactly one line on stderr containing every needle, no traceback."""
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.model
def test_listen_dry_run_json_follows_the_contract(fixtures_dir: Path, tmp_path: Path) -> None:
    result = run(["listen", "--file", str(fixtures_dir / "multi_command.wav"), "--dry-run",
                  "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["intent"] for r in records] == [
        {"type": "dispatch", "agent": "backend", "job": None, "task": "fix the flaky login test"},
        {"type": "status", "agent": None, "job": 12, "task": None},
        {"type": "experiment", "agent": None, "job": None, "task": records[2]["intent"]["task"]},
        {"type": "cancel", "agent": None, "job": 3, "task": None},
    ]
    assert all(0 <= r["start"] < r["end"] for r in records)
    assert [r["start"] for r in records] == sorted(r["start"] for r in records)
    assert all("action" not in r for r in records)  # a dry run acts on nothing
    assert all(r["timings_ms"]["speech_end_to_intent"] > 0 for r in records)
    assert not (tmp_path / "data" / "voicedesk").exists()


@pytest.mark.model
def test_listen_acts_and_jobs_lists_what_it_did(fixtures_dir: Path, tmp_path: Path) -> None:
    wav = str(fixtures_dir / "dispatch_frontend.wav")
    heard = run(["listen", "--no-run", "--file", wav], tmp_path)
    assert heard.returncode == 0, heard.stderr
    assert "Job 1 queued for frontend: please add a dark mode toggle." in heard.stdout
    listing = run(["jobs"], tmp_path)
    assert listing.returncode == 0
    assert "frontend" in listing.stdout and "queued" in listing.stdout
    assert "please add a dark mode toggle" in listing.stdout


@pytest.mark.model
def test_listen_runs_the_jobs_it_heard(fixtures_dir: Path, tmp_path: Path) -> None:
    """The default frontend agent has no repo: its job fails at once, saying what to set."""
    wav = str(fixtures_dir / "dispatch_frontend.wav")
    heard = run(["listen", "--file", wav], tmp_path)
    assert heard.returncode == 0, heard.stderr
    assert "Job 1 (frontend) failed: " in heard.stdout
    assert "[agents.frontend] repo" in heard.stdout


@pytest.mark.model
def test_transcribe_prints_text_and_timings(fixtures_dir: Path, tmp_path: Path) -> None:
    result = run(["transcribe", str(fixtures_dir / "status_job.wav"), "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert "status of job 12" in row["text"].lower()
    assert row["transcribe_ms"] > 0 and row["rtf"] > 0


@pytest.mark.model
def test_demo_runs_the_bundled_sample_without_touching_the_store(tmp_path: Path) -> None:
    result = run(["demo"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "queued for frontend" in result.stdout and "queued for backend" in result.stdout
    assert "Experiment 1 recorded: " in result.stdout
    assert not (tmp_path / "data" / "voicedesk").exists()


def test_say_goes_through_the_same_parser_and_console(tmp_path: Path) -> None:
    made = run(
        ["say", "--no-run", "Tell the backend agent to fix the flaky login test.", "--json"],
        tmp_path,
    )
    assert made.returncode == 0, made.stderr
    record = json.loads(made.stdout)
    assert record["intent"] == {"type": "dispatch", "agent": "backend", "job": None,
                                "task": "fix the flaky login test"}
    assert record["job_ids"] == [1]
    status = run(["say", "what's the status of job one"], tmp_path)
    assert "Job 1, backend: queued" in status.stdout
    cancel = run(["say", "cancel job 1", "--json"], tmp_path)
    assert json.loads(cancel.stdout)["reply"] == "Cancelled job 1 (backend)."


def test_say_dry_run_writes_nothing(tmp_path: Path) -> None:
    result = run(["say", "frontend, add a toggle", "--dry-run", "--json"], tmp_path)
    assert json.loads(result.stdout)["intent"]["agent"] == "frontend"
    assert not (tmp_path / "data" / "voicedesk").exists()


def test_agents_only_config_is_used(tmp_path: Path) -> None:
    config = tmp_path / "agents.toml"
    config.write_text('[agents.docs]\nkind = "coding"\naliases = ["writer"]\n')
    result = run(["say", "writer, fix the typo", "--json", "--config", str(config)], tmp_path)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    first, ended = lines[0], lines[-1]
    assert first["intent"]["agent"] == "docs"
    assert ended["event"] == "job_ended" and "[agents.docs] repo" in ended["error"]
    other = run(["say", "frontend, fix the typo", "--json", "--config", str(config)], tmp_path)
    assert json.loads(other.stdout)["intent"]["type"] == "unknown"


@pytest.mark.model
@pytest.mark.parametrize("name", ["silence.wav", "noise.wav"])
def test_silence_is_no_speech_found_and_exit_zero(
    fixtures_dir: Path, tmp_path: Path, name: str
) -> None:
    result = run(["listen", "--file", str(fixtures_dir / name), "--dry-run", "--json"], tmp_path)
    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr.strip() == f"no speech found in {fixtures_dir / name}"


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("does_not_exist.wav", "not found"),
        ("not_audio.wav", "not_audio.wav"),
        ("truncated.wav", "truncated"),
        ("empty.wav", "no audio samples"),
    ],
)
def test_bad_audio_is_one_line_and_non_zero(
    fixtures_dir: Path, tmp_path: Path, name: str, needle: str
) -> None:
    result = run(["listen", "--file", str(fixtures_dir / name), "--dry-run"], tmp_path)
    assert_one_line_error(result, "voicedesk: error:", needle)


def test_a_directory_is_not_audio(tmp_path: Path) -> None:
    assert_one_line_error(run(["transcribe", str(tmp_path)], tmp_path), str(tmp_path))


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("[stt]\nbeam = 3\n", "stt.beam: unknown key"),
        ("[vad]\nhangover_ms = 'long'\n", "vad.hangover_ms"),
        ("[agents.bot]\nkind = 'robot'\n", "agents.bot.kind"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_bad_config_is_one_line_and_non_zero(tmp_path: Path, body: str, needle: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(body)
    assert_one_line_error(run(["say", "status", "--config", str(config)], tmp_path), needle)


def test_bad_environment_override_is_one_line(tmp_path: Path) -> None:
    result = run(["say", "status"], tmp_path, VOICEDESK_STT__BEAM_SIZE="many")
    assert_one_line_error(result, "stt.beam_size")


def test_unloadable_model_is_one_line(fixtures_dir: Path, tmp_path: Path) -> None:
    result = run(["listen", "--file", str(fixtures_dir / "cancel_job.wav")], tmp_path,
                 VOICEDESK_STT__MODEL="no-such-model")
    assert_one_line_error(result, "stt.model = 'no-such-model'")


def test_say_nothing_is_an_error(tmp_path: Path) -> None:
    assert_one_line_error(run(["say", "  "], tmp_path), "say needs some text")


def test_usage_errors_are_click_usage_not_internal_errors(tmp_path: Path) -> None:
    for args in (["jobs", "--bogus"], ["job", "abc"], ["no-such-command"]):
        result = run(args, tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert "internal error" not in result.stderr and "Error:" in result.stderr
