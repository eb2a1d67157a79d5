"""An agent blocked on the user, answered by voice: the real Claude Code CLI (bundled with
claude-agent-sdk) and the real anthropic client against the fake Messages API on loopback,
jobs run by the real runner, answers typed through the listener's console path."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_helpers import make_repo
from fake_anthropic import Answer, FakeAnthropic, sequence, text, tool_use
from test_coding_agent import agent_script, expected_worktree, home, last_user, tool_results

from voicedesk.agents.questions import NEEDS_INPUT, Questions
from voicedesk.agents.runner import Runner
from voicedesk.config import AgentSettings, Settings
from voicedesk.listener import Listener
from voicedesk.store import Store
from voicedesk.types import Question

GUARD_S = 60.0
__all__ = ["home"]  # the fixture: a throwaway HOME and Claude config, a fake key


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repo with one commit."""
    return make_repo(tmp_path / "proj")


def make_settings(tmp_path: Path, agents: dict[str, dict[str, Any]], **llm: Any) -> Settings:
    """Settings with these agents, a store in tmp_path, quick polling, no LLM intent fallback
    (more [llm] keys in `llm`)."""
    return Settings(
        agents={name: AgentSettings(**values) for name, values in agents.items()},
        store={"data_dir": tmp_path / "data"},
        runner={"poll_s": 0.05, "worktrees_dir": tmp_path / "wt"},
        llm={"intent_fallback": "off", **llm},
    )


def coders(repo: Path, *names: str) -> dict[str, dict[str, Any]]:
    """Coding agents on `repo` that ask before running a command (permission mode default)."""
    return {name: {"kind": "coding", "repo": repo, "permission_mode": "default"}
            for name in names}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """The runner's store (the listener opens its own connection to the same file)."""
    opened = Store.in_dir(tmp_path / "data")
    yield opened
    opened.close()


async def first_question(store: Store, agent: str, timeout: float = 40.0) -> Question:
    """The agent's first open question, once it has asked one."""
    questions = Questions(store)
    async with asyncio.timeout(timeout):
        while not (found := questions.open(agent)):
            await asyncio.sleep(0.05)
    return found[0]


def drive(settings: Settings, store: Store, job_ids: list[int],
          during: Callable[[], Awaitable[Any]]) -> Any:
    """Run the jobs on a real runner while `during` plays the user; what `during` returned."""

    async def scenario() -> Any:
        """Runner in the background, the user in the foreground."""
        task = asyncio.create_task(Runner(settings, store).run(only=job_ids))
        try:
            said = await during()
            await asyncio.wait_for(asyncio.shield(task), GUARD_S)
            return said
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return asyncio.run(asyncio.wait_for(scenario(), GUARD_S * 2))


def say(settings: Settings, text: str) -> tuple[str, str]:
    """A typed command through the listener, on its own store connection: (reply, kind)."""
    store = Store.in_dir(settings.data_dir())
    try:
        heard = Listener(settings, None, store).say(text)
    finally:
        store.close()
    assert heard.outcome is not None
    return heard.outcome.reply, heard.outcome.kind


BASH = {"command": "echo hi > out.txt", "description": "write out.txt"}


def test_yes_lets_the_command_run(
    home: Path, store: Store, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job blocks on 'may it run: …?'; status says so; 'frontend, yes, allow it' lets the
    command run in the worktree, and no new job is queued."""
    settings = make_settings(tmp_path, coders(repo, "frontend"))
    job = store.create_job("frontend", "write out.txt")

    async def user() -> dict[str, Any]:
        """Wait for the question, ask for status, answer yes."""
        question = await first_question(store, "frontend")
        await asyncio.sleep(0.3)  # still waiting, not going anywhere without an answer
        return {"question": question, "open": Questions(store).open("frontend"),
                "agent": say(settings, "frontend status"),
                "job": say(settings, f"what's the status of job {job.id}"),
                "told": say(settings, "frontend, yes, allow it")}

    with FakeAnthropic(agent_script(tool_use("Bash", BASH), "Wrote out.txt.")) as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        seen = drive(settings, store, [job.id], user)
    question: Question = seen["question"]
    assert (question.kind, question.prompt) == ("permission", "may it run: echo hi > out.txt?")
    assert [q.id for q in seen["open"]] == [question.id]
    waiting = "waiting for your answer: may it run: echo hi > out.txt"
    assert waiting in seen["agent"][0] and waiting in seen["job"][0]
    assert seen["told"] == ("Told frontend: yes, allow it.", "done")
    finished = store.job(job.id)
    assert finished is not None and (finished.status, finished.result) == ("done", "Wrote out.txt.")
    assert [j.id for j in store.jobs()] == [job.id]
    assert (expected_worktree(repo, tmp_path, job) / "out.txt").read_text() == "hi\n"
    [result] = tool_results(fake)
    assert result.get("is_error") is not True
    events = [(e.kind, e.message) for e in store.events(job.id)]
    assert (NEEDS_INPUT, "may it run: echo hi > out.txt?") in events
    assert ("note", "answered: yes, allow it") in events
    assert ("note", "the user allowed Bash echo hi > out.txt") in events
    answered = Questions(store).get(question.id)
    assert answered is not None and (answered.status, answered.answer) == (
        "answered", "yes, allow it")


def _denied(home: Path, store: Store, repo: Path, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch, agent: str, said: str) -> dict[str, Any]:
    """Run one job of `agent` whose command is answered with `said`: the tool_result sent
    back, the reply, the job."""
    settings = make_settings(tmp_path, coders(repo, agent))
    job = store.create_job(agent, "write out.txt")

    async def user() -> tuple[str, str]:
        """Answer the question."""
        await first_question(store, agent)
        return say(settings, said)

    with FakeAnthropic(agent_script(tool_use("Bash", BASH), "Understood.")) as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        told = drive(settings, store, [job.id], user)
    [result] = tool_results(fake)
    assert not (expected_worktree(repo, tmp_path, job) / "out.txt").exists()
    return {"result": result, "told": told, "job": store.job(job.id)}


def test_no_denies_with_the_words(
    home: Path, store: Store, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """'frontend, no, don't' denies the command; Claude gets the user's words."""
    seen = _denied(home, store, repo, tmp_path, monkeypatch, "frontend", "frontend, no, don't")
    assert seen["told"] == ("Told frontend: no, don't.", "done")
    assert seen["result"]["is_error"] is True
    assert "no, don't" in json.dumps(seen["result"]["content"])
    assert seen["job"].status == "done"


def test_an_instruction_reaches_claude(
    home: Path, store: Store, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """'backend, use the staging database' is no yes: Claude gets it as the denial message."""
    said = "backend, use the staging database"
    seen = _denied(home, store, repo, tmp_path, monkeypatch, "backend", said)
    assert seen["told"] == ("Told backend: use the staging database.", "done")
    assert seen["result"]["is_error"] is True
    assert seen["result"]["content"] == "The user answered: use the staging database"


def test_cancel_while_waiting_closes_the_question(
    home: Path, store: Store, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelling a job that waits for an answer stops it and leaves no open question."""
    settings = make_settings(tmp_path, coders(repo, "frontend"))
    job = store.create_job("frontend", "write out.txt")

    async def user() -> tuple[Question, tuple[str, str]]:
        """Wait for the question, then cancel the job."""
        question = await first_question(store, "frontend")
        return question, say(settings, f"cancel job {job.id}")

    with FakeAnthropic(agent_script(tool_use("Bash", BASH))) as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        question, told = drive(settings, store, [job.id], user)
    assert told == (f"Cancelled job {job.id} (frontend).", "done")
    ended = store.job(job.id)
    assert ended is not None and ended.status == "cancelled"
    closed = Questions(store).get(question.id)
    assert closed is not None and (closed.status, closed.answer) == ("closed", None)
    assert Questions(store).open() == []
    assert not (expected_worktree(repo, tmp_path, job) / "out.txt").exists()
    assert say(settings, "frontend, yes")[0].startswith("Job ")  # no question: a new job


def test_a_guard_denial_is_never_a_question(
    home: Path, store: Store, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard's PreToolUse hook runs first: `rm -rf ..` is denied without asking anyone."""
    settings = make_settings(tmp_path, coders(repo, "frontend"))
    job = store.create_job("frontend", "clean up")
    rm = tool_use("Bash", {"command": "rm -rf ..", "description": "clean"})

    async def nobody() -> None:
        """No user: the job must end on its own."""

    with FakeAnthropic(agent_script(rm, "Not allowed.")) as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        drive(settings, store, [job.id], nobody)
    assert Questions(store).for_job(job.id) == []
    [denial] = tool_results(fake)
    assert "rm -rf is not allowed" in json.dumps(denial["content"])
    assert store.job(job.id).status == "done"  # type: ignore[union-attr]


def test_ask_user_question_gets_the_spoken_choice(
    home: Path, store: Store, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claude Code's AskUserQuestion is asked aloud with its options; the choice goes back
    as the tool's answer."""
    settings = make_settings(tmp_path, coders(repo, "frontend"))
    job = store.create_job("frontend", "set up the database")
    ask = tool_use("AskUserQuestion", {"questions": [{
        "question": "Which database should I use?", "header": "Database", "multiSelect": False,
        "options": [{"label": "staging", "description": "the shared one"},
                    {"label": "production", "description": "the real one"}]}]})

    async def user() -> Question:
        """Answer by naming an option."""
        question = await first_question(store, "frontend")
        say(settings, "frontend, the staging one")
        return question

    with FakeAnthropic(agent_script(ask, "Using staging.")) as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        question = drive(settings, store, [job.id], user)
    assert (question.kind, question.prompt) == (
        "question", "Which database should I use: staging or production?")
    [result] = tool_results(fake)
    assert result.get("is_error") is not True
    content = result["content"]
    said = content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)
    assert '"Which database should I use?"="staging"' in said


def research_script(question: str, final: str) -> Callable[[dict[str, Any]], Answer]:
    """ask_user first, then finish quoting the tool result it got."""
    first = tool_use("ask_user", {"question": question}, id="toolu_ask")

    def script(body: dict[str, Any]) -> Answer:
        """The question, then a finish."""
        results = [b for b in last_user(body) if b.get("type") == "tool_result"]
        if not results:
            return first
        return tool_use("finish", {"summary": f"{final} {results[0]['content']}"})

    return script


def test_research_ask_user(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The research agent's ask_user blocks the job; the spoken answer is the tool result."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    job = store.create_job("research", "tune the learning rate")
    script = research_script("Which model size, small or large?", "Going with:")

    async def user() -> tuple[Question, tuple[str, str]]:
        """Answer the research agent."""
        question = await first_question(store, "research", timeout=20.0)
        return question, say(settings, "research, the small one")

    with FakeAnthropic(script) as fake:
        settings = make_settings(tmp_path, {"research": {"kind": "research"}},
                                 base_url=fake.base_url, max_retries=0)
        question, told = drive(settings, store, [job.id], user)
    assert (question.kind, question.prompt) == ("question", "Which model size, small or large?")
    assert told == ("Told research: the small one.", "done")
    assert [t["name"] for t in fake.requests[0]["tools"]][-2:] == ["ask_user", "finish"]
    [answer] = [b for b in last_user(fake.requests[1]) if b.get("type") == "tool_result"]
    assert (answer["tool_use_id"], answer["content"], answer["is_error"]) == (
        "toolu_ask", "the small one", False)
    done = store.job(job.id)
    assert done is not None and (done.status, done.result) == (
        "done", "Going with: the small one")
    events = [(e.kind, e.message) for e in store.events(job.id)]
    assert (NEEDS_INPUT, "Which model size, small or large?") in events


def test_research_ask_user_bad_input_and_cancel(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A blank question is an error result (nothing asked); a cancel while waiting closes it."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    job = store.create_job("research", "tune the learning rate")
    script = sequence(tool_use("ask_user", {"question": "  "}, id="toolu_blank"),
                      tool_use("ask_user", {"question": "Small or large?"}), text("unused"))

    async def user() -> tuple[str, str]:
        """Cancel the job while it waits."""
        await first_question(store, "research", timeout=20.0)
        return say(settings, f"cancel job {job.id}")

    with FakeAnthropic(script) as fake:
        settings = make_settings(tmp_path, {"research": {"kind": "research"}},
                                 base_url=fake.base_url, max_retries=0)
        drive(settings, store, [job.id], user)
    [blank] = [b for b in last_user(fake.requests[1]) if b.get("type") == "tool_result"]
    assert (blank["content"], blank["is_error"]) == ("ask_user needs a non-empty question", True)
    assert store.job(job.id).status == "cancelled"  # type: ignore[union-attr]
    [question] = Questions(store).for_job(job.id)
    assert (question.prompt, question.status) == ("Small or large?", "closed")
    assert len(fake.requests) == 2


def test_no_answer_in_time_is_a_no_and_the_job_goes_on(
    home: Path, store: Store, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nobody answers within answer_timeout_s: the question closes, Claude is told to carry on
    without the command, and the job ends rather than waiting for its own timeout."""
    agents = {"frontend": {**coders(repo, "frontend")["frontend"], "answer_timeout_s": 1.0}}
    settings = make_settings(tmp_path, agents)
    job = store.create_job("frontend", "write out.txt")

    async def nobody() -> Question:
        """Wait for the question and say nothing."""
        return await first_question(store, "frontend")

    with FakeAnthropic(agent_script(tool_use("Bash", BASH))) as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        question = drive(settings, store, [job.id], nobody)
        [result] = tool_results(fake)
    closed = Questions(store).get(question.id)
    assert closed is not None and (closed.status, closed.answer) == ("closed", None)
    assert result["is_error"] is True and "did not answer in time" in json.dumps(result)
    ended = store.job(job.id)
    assert ended is not None and ended.status == "done"
    assert not (expected_worktree(repo, tmp_path, job) / "out.txt").exists()
    assert any("no answer to question" in e.message for e in store.events(job.id))
