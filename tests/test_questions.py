"""The questions store on a real SQLite file: ask, answer once, close with the job, wait."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from voicedesk.agents.questions import NEEDS_INPUT, Questions
from voicedesk.errors import AgentError
from voicedesk.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh store file."""
    opened = Store(tmp_path / "v.db")
    yield opened
    opened.close()


def running_job(store: Store, agent: str = "frontend") -> int:
    """A job of `agent` claimed by a runner (running)."""
    job = store.create_job(agent, "write hello")
    claimed = store.claim_job("test-runner", 60.0, [agent])
    assert claimed is not None and claimed.id == job.id
    return job.id


def test_ask_records_the_question_and_the_needs_input_event(store: Store) -> None:
    """An asked question is open, stamped, and its job has a needs_input event with the prompt."""
    job_id = running_job(store)
    questions = Questions(store, clock=lambda: 1000.0)
    asked = questions.ask(job_id, "frontend", "permission", "may it run: npm test?")
    assert (asked.job_id, asked.agent, asked.kind, asked.prompt) == (
        job_id, "frontend", "permission", "may it run: npm test?")
    assert (asked.status, asked.answer, asked.answered_at, asked.asked_at) == (
        "open", None, None, 1000.0)
    assert questions.get(asked.id) == asked
    last = store.events(job_id)[-1]
    assert (last.kind, last.message, last.at) == (NEEDS_INPUT, "may it run: npm test?", 1000.0)
    assert questions.get(asked.id + 1) is None and questions.get(0) is None


def test_open_lists_questions_of_active_jobs_oldest_first(store: Store) -> None:
    """open() is oldest first, per agent, and leaves out jobs that ended."""
    questions = Questions(store)
    front, back = running_job(store, "frontend"), running_job(store, "backend")
    first = questions.ask(front, "frontend", "permission", "may it run: ls?")
    other = questions.ask(back, "backend", "question", "Which database?")
    second = questions.ask(front, "frontend", "question", "Which file?")
    assert [q.id for q in questions.open()] == [first.id, other.id, second.id]
    assert [q.id for q in questions.open("frontend")] == [first.id, second.id]
    assert questions.open("nobody") == []
    store.cancel_jobs([back], "test")
    assert [q.id for q in questions.open()] == [first.id, second.id]
    assert [q.id for q in questions.for_job(front)] == [first.id, second.id]


def test_answer_only_once(store: Store) -> None:
    """An open question takes one answer (noted on its job); a second answer gets None."""
    job_id = running_job(store)
    questions = Questions(store, clock=lambda: 2000.0)
    asked = questions.ask(job_id, "frontend", "permission", "may it run: ls?")
    answered = questions.answer(asked.id, "yes, allow it")
    assert answered is not None
    assert (answered.status, answered.answer, answered.answered_at) == (
        "answered", "yes, allow it", 2000.0)
    assert questions.answer(asked.id, "no") is None
    assert questions.get(asked.id) == answered
    noted = [(e.kind, e.message) for e in store.events(job_id)]
    assert ("note", "answered: yes, allow it") in noted
    assert questions.open() == []
    assert questions.answer(asked.id + 99, "yes") is None


def test_close_for_job(store: Store) -> None:
    """Closing a job's questions closes only its open ones; a closed one takes no answer."""
    job_id, other = running_job(store), running_job(store, "backend")
    questions = Questions(store)
    done = questions.ask(job_id, "frontend", "permission", "may it run: ls?")
    questions.answer(done.id, "yes")
    waiting = questions.ask(job_id, "frontend", "question", "Which file?")
    elsewhere = questions.ask(other, "backend", "question", "Which database?")
    assert questions.close_for_job(job_id) == 1
    assert [q.status for q in questions.for_job(job_id)] == ["answered", "closed"]
    assert questions.answer(waiting.id, "that one") is None
    assert [q.id for q in questions.open()] == [elsewhere.id]
    assert questions.close_for_job(job_id) == 0


def test_wait_returns_when_another_process_answers(store: Store) -> None:
    """wait() polls the file: an answer written by another process ends it."""
    job_id = running_job(store)
    questions = Questions(store)
    asked = questions.ask(job_id, "frontend", "permission", "may it run: ls?")
    answer_it = (
        "import sys; from pathlib import Path; from voicedesk.store import Store;"
        "from voicedesk.agents.questions import Questions;"
        "store = Store(Path(sys.argv[1]));"
        "assert Questions(store).answer(int(sys.argv[2]), 'go ahead') is not None"
    )

    async def scenario() -> tuple[bool, str | None]:
        """Wait; answer from a child process; the wait's result."""
        waiting = asyncio.create_task(questions.wait(asked.id, poll_s=0.02))
        await asyncio.sleep(0.2)
        still_waiting = not waiting.done()
        command = [sys.executable, "-c", answer_it, str(store.path), str(asked.id)]
        await asyncio.to_thread(subprocess.run, command, check=True, timeout=60)
        answered = await asyncio.wait_for(waiting, 10)
        return still_waiting, answered.answer

    assert asyncio.run(scenario()) == (True, "go ahead")


def test_wait_fails_on_a_closed_question_and_can_be_cancelled(store: Store) -> None:
    """A question closed under a waiter ends the wait with AgentError; cancelling propagates."""
    job_id = running_job(store)
    questions = Questions(store)
    closed = questions.ask(job_id, "frontend", "question", "Which file?")
    pending = questions.ask(job_id, "frontend", "question", "Which branch?")

    async def scenario() -> None:
        """Close one under its waiter; cancel the other's waiter."""
        first = asyncio.create_task(questions.wait(closed.id, poll_s=0.02))
        second = asyncio.create_task(questions.wait(pending.id, poll_s=0.02))
        await asyncio.sleep(0.1)
        questions.close(closed.id)
        with pytest.raises(AgentError, match="closed without an answer"):
            await asyncio.wait_for(first, 5)
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second

    asyncio.run(scenario())
    assert questions.get(pending.id).status == "open"  # type: ignore[union-attr]


def test_console_routes_a_dispatch_to_the_waiting_question(store: Store) -> None:
    """A task for an agent that waits is the answer (oldest first); status shows the wait;
    an agent with nothing open gets a new job as before."""
    from voicedesk.console import Console
    from voicedesk.types import Intent

    console = Console(store, ["frontend", "backend"])
    job_id = running_job(store)
    questions = Questions(store)
    first = questions.ask(job_id, "frontend", "permission", "may it run: npm test?")
    second = questions.ask(job_id, "frontend", "question", "Which file?")
    status = console.act(Intent("status", job=job_id)).reply
    assert status.endswith("— write hello, waiting for your answer: may it run: npm test.")
    told = console.act(Intent("dispatch", agent="frontend", task="yes, allow it"))
    assert (told.action, told.reply, told.kind, told.job_ids) == (
        "answered", "Told frontend: yes, allow it. It also asks: Which file?", "done", (job_id,))
    assert questions.get(first.id).answer == "yes, allow it"  # type: ignore[union-attr]
    agent = console.act(Intent("status", agent="frontend")).reply
    assert agent == (f"frontend has 1 active job: #{job_id} running: write hello,"
                     " waiting for your answer: Which file.")
    last = console.act(Intent("dispatch", agent="frontend", task="the readme"))
    assert last.reply == "Told frontend: the readme."
    assert questions.get(second.id).answer == "the readme"  # type: ignore[union-attr]
    queued = console.act(Intent("dispatch", agent="frontend", task="add a toggle"))
    assert queued.action == "job_created" and len(store.jobs()) == 2
    other = console.act(Intent("dispatch", agent="backend", task="yes"))
    assert other.action == "job_created"
