"""The confirmation policy: what is read back, and what a yes, a no or silence does."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicedesk.config import Settings
from voicedesk.console import Console
from voicedesk.dialogue import Dialogue
from voicedesk.store import Store
from voicedesk.types import Intent

YES, NO = Intent("confirm"), Intent("deny")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A fresh store."""
    return Store.in_dir(tmp_path)


def dialogue(store: Store, **agent_flags: bool) -> Dialogue:
    """A dialogue over the default agents, some marked `confirm = true`."""
    settings = Settings()
    agents = dict(settings.agents)
    for name, careful in agent_flags.items():
        agents[name] = agents[name].model_copy(update={"confirm": careful})
    settings = settings.model_copy(update={"agents": agents})
    return Dialogue(Console(store, settings.agents), settings)


def test_cancel_is_read_back_and_runs_on_yes(store: Store) -> None:
    job = store.create_job("backend", "fix login")
    talk = dialogue(store)
    [asked] = talk.handle(Intent("cancel", job=job.id), now=0.0)
    assert (asked.action, asked.kind) == ("asked", "question")
    assert asked.reply == f"Cancel job {job.id} (backend)? Say yes or no."
    assert store.job(job.id).status == "queued"  # type: ignore[union-attr]
    [done] = talk.handle(YES, now=3.0)
    assert done.action == "confirmed:cancelled" and done.job_ids == (job.id,)
    assert store.job(job.id).status == "cancelled"  # type: ignore[union-attr]


def test_no_drops_the_question(store: Store) -> None:
    job = store.create_job("backend", "fix login")
    talk = dialogue(store)
    talk.handle(Intent("cancel", agent="backend"), now=0.0)
    [denied] = talk.handle(NO, now=1.0)
    assert denied.reply == "OK, I won't stop backend."
    assert store.job(job.id).status == "queued"  # type: ignore[union-attr]
    assert talk.handle(YES, now=2.0)[0].reply == "Nothing is waiting for a yes."


def test_silence_past_the_timeout_drops_it(store: Store) -> None:
    job = store.create_job("backend", "fix login")
    talk = dialogue(store)
    talk.handle(Intent("cancel", job=job.id), now=100.0)
    assert talk.expire(now=109.9) is None
    notice = talk.expire(now=110.0)
    assert notice is not None and notice.kind == "notice"
    assert notice.reply == f"No answer, so I did not cancel job {job.id}."
    assert talk.handle(YES, now=110.5)[0].action == "none"
    assert store.job(job.id).status == "queued"  # type: ignore[union-attr]


def test_a_late_yes_gets_the_expiry_notice_first(store: Store) -> None:
    job = store.create_job("backend", "x")
    talk = dialogue(store)
    talk.handle(Intent("cancel", job=job.id), now=0.0)
    expired, nothing = talk.handle(YES, now=30.0)
    assert (expired.action, nothing.action) == ("expired", "none")


def test_another_command_drops_the_question(store: Store) -> None:
    job = store.create_job("backend", "x")
    talk = dialogue(store)
    talk.handle(Intent("cancel", job=job.id), now=0.0)
    [status] = talk.handle(Intent("status"), now=1.0)
    assert status.action == "status"
    assert talk.handle(YES, now=2.0)[0].action == "none"


def test_nothing_to_cancel_is_refused_without_asking(store: Store) -> None:
    [refused] = dialogue(store).handle(Intent("cancel", job=7), now=0.0)
    assert (refused.action, refused.reply) == ("rejected", "There is no job 7.")


def test_careful_agents_and_unsure_names_are_asked(store: Store) -> None:
    talk = dialogue(store, frontend=True)
    [asked] = talk.handle(Intent("dispatch", agent="frontend", task="add a toggle"), now=0.0)
    assert asked.reply == "Send frontend: add a toggle? Say yes or no."
    assert talk.handle(YES, now=1.0)[0].action == "confirmed:job_created"
    unsure = Intent("dispatch", agent="backend", task="fix it", confidence=0.8)
    [asked] = talk.handle(unsure, now=2.0)
    assert asked.reply == "Did you mean: send backend: fix it? Say yes or no."
    assert store.jobs(agent="backend") == []


def test_sure_plain_commands_run_at_once(store: Store) -> None:
    [done] = dialogue(store).handle(Intent("dispatch", agent="backend", task="fix it"), now=0.0)
    assert done.action == "job_created"


def test_read_backs_and_expiries_are_in_the_audit_log(store: Store) -> None:
    from voicedesk.listener import Responder
    from voicedesk.types import Transcript, Utterance

    job = store.create_job("backend", "x")
    responder = Responder(Settings(), store)
    spoken = Utterance(b"", 0.0, 1.0, 1.0)

    def say(text: str, now: float) -> None:
        """One transcript through the responder at `now`."""
        responder.conclude("test", spoken, Transcript(text), text, now, {}, lambda: now)

    say(f"cancel job {job.id}", 0.0)
    say("yes", 1.0)
    say(f"cancel job {job.id}", 2.0)  # already cancelled: refused without asking
    second = store.create_job("backend", "y")
    say(f"cancel job {second.id}", 3.0)
    assert responder.expire(100.0, "timer") is not None
    actions = [row["action"] for row in reversed(store.utterances())]
    assert actions == ["asked", "confirmed:cancelled", "rejected", "asked", "expired"]


def test_words_whisper_was_unsure_of_are_read_back_before_they_reach_an_agent(
    store: Store,
) -> None:
    from voicedesk.dialogue import doubt_heard

    settings = Settings().intents
    garbled = Intent("dispatch", agent="infra", task="rotate must aging so if it cuts")
    doubted = doubt_heard(garbled, -1.2, settings)
    assert doubted.confidence == pytest.approx(0.301, abs=0.001)
    assert doubt_heard(garbled, -0.7, settings) == garbled  # tiny.en's usual range stands
    assert doubt_heard(Intent("status", job=3), -2.0, settings).confidence == 1.0
    talk = dialogue(store)
    [asked] = talk.handle(doubted, now=0.0)
    assert asked.reply == (
        "Did you mean: send infra: rotate must aging so if it cuts? Say yes or no."
    )
    assert store.jobs() == []
    experiment = doubt_heard(Intent("experiment", task="net swap"), -1.5, settings)
    [asked] = talk.handle(experiment, now=1.0)
    assert asked.reply == "Did you mean: queue an experiment: net swap? Say yes or no."
