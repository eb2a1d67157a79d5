"""The console's spoken side on a real store: a running job's last step, the stand-up item
by item and its details, and a plain yes answering the one agent waiting."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicedesk.agents.progress import spoken_step
from voicedesk.agents.questions import Questions
from voicedesk.console import Console
from voicedesk.store import JobOutcome, Store
from voicedesk.types import Intent

AGENTS = ("frontend", "backend", "infra")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A fresh store."""
    return Store.in_dir(tmp_path)


@pytest.mark.parametrize(
    ("message", "spoken"),
    [
        ("Edit src/settings.tsx", "editing src/settings.tsx"),
        ("Read README.md", "reading README.md"),
        ("Bash npm test", "running npm test"),
        ('$ pytest -q  (matched "run the tests", 0.97)', "running pytest -q"),
        ("TodoWrite {\"todos\": []}", "updating its to-do list"),
        ("propose_experiment halve the warmup", "propose_experiment halve the warmup"),
    ],
)
def test_spoken_step(message: str, spoken: str) -> None:
    assert spoken_step(message) == spoken


def test_a_running_job_says_its_last_step(store: Store) -> None:
    job = store.create_job("frontend", "add a dark mode toggle")
    store.claim_job("runner-1", 30.0, ["frontend"])
    store.add_event(job.id, "tool", "Read src/settings.tsx")
    store.add_event(job.id, "text", "I will add the toggle now.")
    store.add_event(job.id, "tool", "Edit src/settings.tsx")
    reply = Console(store, AGENTS).act(Intent("status", job=job.id)).reply
    assert reply.startswith(f"Job {job.id}, frontend: running for a few seconds")
    assert reply.endswith("add a dark mode toggle, last step: editing src/settings.tsx.")


def test_the_stand_up_is_spoken_item_by_item_and_details_follow_the_voice(store: Store) -> None:
    for agent, ok in (("infra", True), ("backend", False)):
        job = store.create_job(agent, f"{agent} work")
        store.claim_job("runner-1", 30.0, [agent])
        outcome = (JobOutcome("done", result="All 12 tests passed.") if ok
                   else JobOutcome("failed", error="timed out after 600 s"))
        assert store.finish_job(job.id, "runner-1", outcome)
    console = Console(store, AGENTS)
    assert console.act(Intent("details")).action == "none"
    standup = console.act(Intent("standup"))
    assert standup.action == "standup"
    opening, failure, finished = standup.parts
    assert opening.startswith("Since your last stand-up")
    assert "backend" in failure and "failed" in failure
    assert "infra" in finished and "finished" in finished
    assert standup.reply == " ".join(standup.parts)
    console.spoken_part(2)  # the voice has reached the finished job
    assert "12 tests passed" in console.act(Intent("details")).reply
    console.spoken_part(1)
    assert "timed out" in console.act(Intent("details")).reply
    again = Console(store, AGENTS).act(Intent("standup"))
    assert again.reply == "Nothing new since your last stand-up."


def test_a_plain_yes_answers_the_only_agent_waiting(store: Store) -> None:
    console = Console(store, AGENTS)
    assert console.act(Intent("confirm")).reply == "Nothing is waiting for a yes."
    job = store.create_job("frontend", "run the tests")
    store.claim_job("runner-1", 30.0, ["frontend"])
    questions = Questions(store)
    asked = questions.ask(job.id, "frontend", "permission", "may it run: npm test?")
    told = console.act(Intent("confirm"))
    assert told.reply.startswith("Told frontend: yes")
    answered = questions.get(asked.id)
    assert answered is not None and answered.answer == "yes"
    other = store.create_job("backend", "migrate")
    store.claim_job("runner-1", 30.0, ["backend"])
    questions.ask(job.id, "frontend", "question", "which branch?")
    questions.ask(other.id, "backend", "question", "which database?")
    assert console.act(Intent("deny")).reply == "Nothing is waiting for a no."  # two waiting
