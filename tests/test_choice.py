"""The grammar-aware choice among hypotheses (voicedesk.intents.choice), on plain values."""

from __future__ import annotations

from voicedesk.intents.choice import SURE, Reader
from voicedesk.intents.wake import strip_wake_word
from voicedesk.types import Hypothesis

AGENTS = {"frontend": ["web", "ui"], "backend": ["api"], "infra": ["ops"]}


def reader(margin: float = 0.3, wake: str | None = None) -> Reader:
    """A reader over AGENTS with the default thresholds."""
    if wake is None:
        return Reader(AGENTS, 0.75, 0.9, margin)
    return Reader(AGENTS, 0.75, 0.9, margin, lambda text: strip_wake_word(text, wake))


def test_a_near_reading_that_names_an_agent_beats_a_top_one_that_names_none() -> None:
    found = [Hypothesis("And for, bump the base image.", -0.17),
             Hypothesis("And for bump the base image.", -0.20),
             Hypothesis("Infra, bump the base image.", -0.22)]
    assert reader().choose(found) == found[2]


def test_a_reading_far_below_the_best_is_never_chosen() -> None:
    found = [Hypothesis("And for, bump the base image.", -0.2),
             Hypothesis("Infra, bump the base image.", -0.9)]
    assert reader(margin=0.3).choose(found) == found[0]


def test_between_equally_good_readings_the_decoder_order_stands() -> None:
    found = [Hypothesis("Frontend, add a dark mode toggle.", -0.30),
             Hypothesis("Frontend, add a dark mode toggles.", -0.31)]
    assert reader().choose(found) == found[0]


def test_an_exact_name_beats_a_fuzzy_one_that_would_be_read_back() -> None:
    fuzzy, exact = Hypothesis("Front in, fix it.", -0.30), Hypothesis("Frontend, fix it.", -0.35)
    assert reader().tier(fuzzy.text) == SURE - 1 and reader().tier(exact.text) == SURE
    assert reader().choose([fuzzy, exact]) == exact


def test_with_a_wake_word_the_reading_that_has_it_wins() -> None:
    found = [Hypothesis("Task, status.", -0.25), Hypothesis("Desk, status.", -0.3)]
    assert reader(wake="desk").choose(found) == found[1]
    assert reader(wake="desk").tier("Task, status.") == 0


def test_sure_only_for_a_reading_that_needs_no_read_back() -> None:
    assert reader().sure([Hypothesis("Cancel job 12.", -0.2)])
    assert not reader().sure([Hypothesis("Give me a stack of server updates.", -0.2)])
    assert not reader().sure([])
    assert reader().choose([]) is None


def test_between_equal_readings_one_that_names_an_open_job_wins() -> None:
    found = [Hypothesis("What is the status of job 50?", -0.20),
             Hypothesis("What is the status of job 15?", -0.25)]
    assert reader().choose(found) == found[0]
    assert reader().with_open_jobs([15, 3]).choose(found) == found[1]
    unclear = [Hypothesis("Status of job 50.", -0.2), Hypothesis("And for job 15.", -0.21)]
    assert reader().with_open_jobs([15]).choose(unclear) == unclear[0]  # the tier comes first
