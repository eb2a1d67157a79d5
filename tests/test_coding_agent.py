"""The coding agent: the real Claude Code CLI (bundled with claude-agent-sdk) in a per-job git
worktree, talking to a fake Anthropic Messages API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from agent_helpers import make_repo, run_jobs, settings_with
from fake_anthropic import Answer, FakeAnthropic, Hang, Script, text, tool_use

from voicedesk.agents.coding import CodingAgent
from voicedesk.agents.coding_log import describe_tool, spoken_summary
from voicedesk.agents.protocol import FollowUp, JobContext, JobResult
from voicedesk.agents.runner import Runner
from voicedesk.agents.worktree import create_worktree, worktree_path
from voicedesk.config import AgentSettings, LlmSettings
from voicedesk.errors import AgentError
from voicedesk.store import Store
from voicedesk.types import Job

T = TypeVar("T")
GUARD_S = 45.0
Events = list[tuple[str, str]]


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end, failing the test if it takes longer than GUARD_S."""
    return asyncio.run(asyncio.wait_for(coroutine, GUARD_S))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway HOME and Claude config dir, an API key the fake accepts, no other auth."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home / ".claude"))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-fake")
    monkeypatch.setenv("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
    for name in ("ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_MODEL",
                 "ANTHROPIC_BASE_URL", "CLAUDECODE", "CLAUDE_CODE_USE_BEDROCK",
                 "CLAUDE_CODE_USE_VERTEX"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh store."""
    opened = Store(tmp_path / "v.db")
    yield opened
    opened.close()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repo with one commit."""
    return make_repo(tmp_path / "proj")


def context(store: Store, job: Job, repo: Path | None, events: Events, tmp_path: Path,
            follow_up: FollowUp | None = None) -> JobContext:
    """A real JobContext for the `frontend` coding agent, events collected in `events`."""
    return JobContext(
        job=job, agent="frontend", settings=AgentSettings(kind="coding", repo=repo),
        llm=LlmSettings(), store=store, emit=lambda kind, message: events.append((kind, message)),
        worktrees_dir=tmp_path / "wt", follow_up=follow_up,
    )


def last_user(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The content blocks of the request's last user message (the CLI also sends `system`s)."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message["content"]
            return [{"type": "text", "text": content}] if isinstance(content, str) else content
    return []


def tool_results(fake: FakeAnthropic) -> list[dict[str, Any]]:
    """Every tool_result block the CLI sent back to the fake."""
    return [block for body in fake.requests for block in last_user(body)
            if block.get("type") == "tool_result"]


def agent_script(first: Answer, done: str = "Wrote hello.txt. It says hi.") -> Script:
    """Side requests get plain text; the conversation gets `first`, then `done` after a result."""

    def script(body: dict[str, Any]) -> Answer:
        """Answer one request."""
        if not body.get("tools"):
            return text("A title")
        if any(block.get("type") == "tool_result" for block in last_user(body)):
            return text(done)
        return first

    return script


def expected_worktree(repo: Path, tmp_path: Path, job: Job) -> Path:
    """Where the agent puts a job's worktree."""
    return worktree_path(repo.resolve(), (tmp_path / "wt").resolve(), job.id)


def git_out(path: Path, *args: str) -> str:
    """The stripped output of a git command."""
    command = ["git", "-C", str(path), *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def run_job(fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch, ctx: JobContext) -> JobResult:
    """Run one job against the fake."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
    return run(CodingAgent().run(ctx))


def test_writes_only_in_its_own_worktree(
    home: Path, store: Store, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Write lands in the job's worktree on its own branch, and the job reports as it goes."""
    job = store.create_job("frontend", "write hello")
    worktree = expected_worktree(repo, tmp_path, job)
    events: Events = []
    write = tool_use("Write", {"file_path": str(worktree / "hello.txt"), "content": "hi"})
    with FakeAnthropic(agent_script(write)) as fake:
        result = run_job(fake, monkeypatch, context(store, job, repo, events, tmp_path))
    assert (worktree / "hello.txt").read_text() == "hi"
    assert sorted(p for p in tmp_path.rglob("hello.txt")) == [worktree / "hello.txt"]
    assert git_out(worktree, "rev-parse", "--abbrev-ref", "HEAD") == f"voicedesk/job-{job.id}"
    assert git_out(repo, "status", "--porcelain") == ""
    kinds = [kind for kind, _ in events]
    assert {"note", "session", "tool", "text", "cost"} <= set(kinds)
    assert ("note", f"worktree {worktree} on branch voicedesk/job-{job.id}") in events
    assert ("tool", "Write hello.txt") in events
    assert ("text", "Wrote hello.txt. It says hi.") in events
    assert result.summary == "Wrote hello.txt."
    assert result.worktree == worktree
    assert result.session_id and ("session", result.session_id) in events
    assert result.cost_usd is not None and result.cost_usd >= 0
    assert "[tool] Write" in result.log and "[assistant] Wrote hello.txt." in result.log
    assert all(body["messages"] for body in fake.requests)
    assert last_user(fake.requests[0])[-1]["text"] == "write hello"


def test_write_outside_the_worktree_is_denied(
    home: Path, store: Store, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard hook stops a Write outside the worktree and tells the model why."""
    job = store.create_job("frontend", "write outside")
    outside = tmp_path / "outside.txt"
    events: Events = []
    write = tool_use("Write", {"file_path": str(outside), "content": "nope"})
    with FakeAnthropic(agent_script(write, "I could not write there.")) as fake:
        result = run_job(fake, monkeypatch, context(store, job, repo, events, tmp_path))
    assert not outside.exists()
    denied = [message for kind, message in events if kind == "denied"]
    assert len(denied) == 1 and "outside the worktree" in denied[0]
    [denial] = tool_results(fake)
    assert denial.get("is_error") is True and denied[0] in json.dumps(denial["content"])
    assert result.summary == "I could not write there."


def test_rm_rf_is_denied(
    home: Path, store: Store, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Bash `rm -rf ..` never runs."""
    job = store.create_job("frontend", "clean up")
    (tmp_path / "canary").write_text("still here")
    events: Events = []
    rm = tool_use("Bash", {"command": "rm -rf ..", "description": "clean"})
    with FakeAnthropic(agent_script(rm, "Not allowed.")) as fake:
        run_job(fake, monkeypatch, context(store, job, repo, events, tmp_path))
    assert (tmp_path / "canary").read_text() == "still here"
    assert expected_worktree(repo, tmp_path, job).is_dir()
    assert ("denied", "rm -rf is not allowed") in events
    [denial] = tool_results(fake)
    assert "rm -rf is not allowed" in json.dumps(denial["content"])


def test_follow_up_resumes_the_session_in_the_same_worktree(
    home: Path, store: Store, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A follow-up job continues the first job's conversation, in the first job's worktree."""
    first = store.create_job("frontend", "write hello")
    worktree = expected_worktree(repo, tmp_path, first)

    def script(body: dict[str, Any]) -> Answer:
        """hello.txt for the first task, again.txt for the follow-up."""
        asked = " ".join(str(block.get("text", "")) for block in last_user(body))
        name = "again.txt" if "again" in asked else "hello.txt"
        return agent_script(tool_use("Write", {"file_path": str(worktree / name), "content": "hi"}),
                            "Done.")(body)

    events: Events = []
    with FakeAnthropic(script) as fake:  # one fake for both: message ids stay unique
        one = run_job(fake, monkeypatch, context(store, first, repo, events, tmp_path))
        assert one.session_id is not None and one.worktree is not None
        seen = len(fake.requests)
        second = store.create_job("frontend", "do it again")
        follow_up = FollowUp(first.id, one.session_id, one.worktree)
        two = run_job(fake, monkeypatch,
                      context(store, second, repo, events, tmp_path, follow_up))
        later = fake.requests[seen:]
    assert two.worktree == worktree and (worktree / "again.txt").exists()
    assert two.session_id == one.session_id
    assert [p.name for p in (tmp_path / "wt").iterdir()] == [worktree.name]
    assert f"voicedesk/job-{second.id}" not in git_out(repo, "branch", "--list")
    carried = json.dumps(later[0]["messages"])
    assert "write hello" in carried and "do it again" in carried
    assert any(kind == "note" and "resuming session" in message for kind, message in events)


def test_runner_runs_a_coding_job_and_its_follow_up(
    home: Path, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the runner: the job is done with its worktree and session stored; the next
    job of the same agent continues that session in that worktree."""
    settings = settings_with(tmp_path, {"frontend": {"kind": "coding", "repo": repo}},
                             worktrees_dir=tmp_path / "wt")
    store = Store.in_dir(settings.data_dir())

    def script(body: dict[str, Any]) -> Answer:
        """Write a file named after the job's own worktree folder."""
        asked = " ".join(str(block.get("text", "")) for block in last_user(body))
        name = "second.txt" if "second" in asked else "first.txt"
        path = expected_worktree(repo, tmp_path, first) / name
        return agent_script(tool_use("Write", {"file_path": str(path), "content": "x"}),
                            "Done.")(body)

    with FakeAnthropic(script) as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        first = store.create_job("frontend", "first job")
        run_jobs(Runner(settings, store), [first.id], timeout=GUARD_S)
        second = store.create_job("frontend", "second job")
        run_jobs(Runner(settings, store), [second.id], timeout=GUARD_S)
    done = [store.job(first.id), store.job(second.id)]
    assert [(job.status, job.result) for job in done if job] == [("done", "Done.")] * 2
    worktree = expected_worktree(repo, tmp_path, first)
    assert [job.worktree for job in done if job] == [str(worktree)] * 2
    assert (worktree / "first.txt").exists() and (worktree / "second.txt").exists()
    assert done[0] and done[1] and done[0].session_id == done[1].session_id
    store.close()


def _cli_children() -> list[int]:
    """Process ids of this process's children that run the Claude Code CLI."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == os.getpid() and b"claude" in cmdline:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_cancel_stops_the_cli(
    home: Path, store: Store, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelling the run while the API hangs ends it within seconds, CLI process and all."""
    job = store.create_job("frontend", "think hard")
    events: Events = []

    async def scenario(fake: FakeAnthropic) -> tuple[float, list[int]]:
        """Start the job, wait for its API call, cancel; how long the end took, CLI pids."""
        task = asyncio.create_task(CodingAgent().run(context(store, job, repo, events, tmp_path)))
        while not fake.requests:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        pids = _cli_children()
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started, pids

    with FakeAnthropic(agent_script(Hang(30.0))) as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        took, pids = run(scenario(fake))
    assert pids, "the CLI process was not found while the job ran"
    assert took < 10.0
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)


def test_no_api_key_fails_fast(
    home: Path, store: Store, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ANTHROPIC_API_KEY the job fails at once: no worktree, no request."""
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    job = store.create_job("frontend", "write hello")
    with FakeAnthropic(agent_script(text("hi"))) as fake, \
            pytest.raises(AgentError, match="ANTHROPIC_API_KEY"):
        run_job(fake, monkeypatch, context(store, job, repo, [], tmp_path))
    assert fake.requests == [] and fake.paths == []
    assert not (tmp_path / "wt").exists()


def test_api_error_fails_the_job_with_the_reason(
    home: Path, store: Store, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An API error the CLI does not retry ends the job with a readable reason."""
    from fake_anthropic import Fail

    job = store.create_job("frontend", "write hello")
    bad = Fail(400, "fake bad request", "invalid_request_error")
    with FakeAnthropic(agent_script(bad)) as fake, \
            pytest.raises(AgentError, match=r"HTTP 400.*fake bad request"):
        run_job(fake, monkeypatch, context(store, job, repo, [], tmp_path))


def test_no_repo_configured(home: Path, store: Store, tmp_path: Path) -> None:
    """A coding agent without a repo says which key to set."""
    job = store.create_job("frontend", "write hello")
    with pytest.raises(AgentError) as caught:
        run(CodingAgent().run(context(store, job, None, [], tmp_path)))
    assert str(caught.value) == (
        "agent frontend has no repo configured: set [agents.frontend] repo"
    )


def test_follow_up_worktree_gone(home: Path, store: Store, repo: Path, tmp_path: Path) -> None:
    """Following up a job whose worktree was removed fails with the path."""
    job = store.create_job("frontend", "again")
    gone = FollowUp(1, "0000", tmp_path / "nowhere")
    with pytest.raises(AgentError, match="worktree of job 1 is gone"):
        run(CodingAgent().run(context(store, job, repo, [], tmp_path, gone)))


def test_worktree_errors(tmp_path: Path, repo: Path) -> None:
    """Missing repo, not a repo, no commits, branch taken: one clear line each."""
    wt = tmp_path / "wt"
    with pytest.raises(AgentError, match="does not exist"):
        create_worktree(tmp_path / "missing", wt, 1)
    (tmp_path / "plain").mkdir()
    with pytest.raises(AgentError, match="not a git repository"):
        create_worktree(tmp_path / "plain", wt, 1)
    subprocess.run(["git", "init", "-q", str(tmp_path / "empty")], check=True)
    with pytest.raises(AgentError, match="has no commits"):
        create_worktree(tmp_path / "empty", wt, 1)
    made = create_worktree(repo, wt, 7)
    assert (made / "README.md").read_text() == "hello\n"
    with pytest.raises(AgentError, match="branch voicedesk/job-7 already exists"):
        create_worktree(repo, tmp_path / "other", 7)


@pytest.mark.parametrize(("final", "expected"), [
    ("Wrote hello.txt. It says hi.", "Wrote hello.txt."),
    ("**Done!** Added `main.py` and tests", "Done!"),
    ("Fixed it\n\nDetails follow.", "Fixed it Details follow."),
    ("", "frontend finished in 3 turns."),
    (None, "frontend finished in 3 turns."),
])
def test_spoken_summary(final: str | None, expected: str) -> None:
    """The first sentence of the final text, plain and short, or a fallback."""
    summary = spoken_summary(final, "frontend", 3)
    assert summary == expected and len(summary) <= 200


def test_long_summary_is_cut_at_a_word() -> None:
    """A long first sentence is cut to 200 characters at a word boundary."""
    summary = spoken_summary("word " * 100, "frontend", 1)
    assert len(summary) <= 200 and summary.endswith("word…")


def test_describe_tool(tmp_path: Path) -> None:
    """Tool events are short: the tool and its main argument, paths relative to the worktree."""
    assert describe_tool("Write", {"file_path": str(tmp_path / "a.py")}, tmp_path) == "Write a.py"
    assert describe_tool("Bash", {"command": "ls\n-la"}) == "Bash ls -la"
    assert describe_tool("TodoWrite", {"todos": [1]}) == 'TodoWrite {"todos": [1]}'
    assert len(describe_tool("Bash", {"command": "x" * 500})) == 120
