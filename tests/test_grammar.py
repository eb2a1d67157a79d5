"""Tests for the grammar parser (voicedesk.intents.grammar), on Whisper-style transcripts."""

from __future__ import annotations

import pytest

from voicedesk.intents import parse_command
from voicedesk.intents.tokens import tokenize
from voicedesk.types import Intent

AGENTS = {
    "frontend": ["web", "ui"],
    "backend": ["api", "server"],
    "infra": ["ops"],
    "research": ["researcher"],
}

Row = tuple[str, str, str | None, int | None, str | None]


def _check(text: str, type_: str, agent: str | None, job: int | None, task: str | None) -> None:
    """Parse text and compare the four contract fields."""
    intent = parse_command(text, AGENTS)
    assert intent.contract() == {"type": type_, "agent": agent, "job": job, "task": task}
    assert intent.source == "grammar"


DISPATCH: list[Row] = [
    ("Frontend, add a dark mode toggle to the settings page.", "dispatch", "frontend", None,
     "add a dark mode toggle to the settings page"),
    ("Frontend and an art mode toggle to the settings page.", "dispatch", "frontend", None,
     "and an art mode toggle to the settings page"),
    ("Tell the backend agent to fix the flaky login test.", "dispatch", "backend", None,
     "fix the flaky login test"),
    ("Ask the research agent to summarize yesterday's experiments.", "dispatch", "research",
     None, "summarize yesterday's experiments"),
    ("Ask the research agent to summarize yesterday next experiment.", "dispatch", "research",
     None, "summarize yesterday next experiment"),
    ("backend, rename the user table to accounts and update the migrations.", "dispatch",
     "backend", None, "rename the user table to accounts and update the migrations"),
    ("Have the frontend agent right unit test for the date bigger.", "dispatch", "frontend",
     None, "right unit test for the date bigger"),
    ("Infra, bump the base image to the latest python release.", "dispatch", "infra", None,
     "bump the base image to the latest python release"),
    ("Tell infra to rotate the staging certificates.", "dispatch", "infra", None,
     "rotate the staging certificates"),
    ("Tell infra rotate the staging certificate.", "dispatch", "infra", None,
     "rotate the staging certificate"),
    ("Research. Compare to the embeddings we learned positional embeddings.", "dispatch",
     "research", None, "compare to the embeddings we learned positional embeddings"),
    ("Research, compare rotary embeddings with learned positional embeddings.", "dispatch",
     "research", None, "compare rotary embeddings with learned positional embeddings"),
    ("Web agent, make the finger sticky on mobile.", "dispatch", "frontend", None,
     "make the finger sticky on mobile"),
    ("Web agent. Make the header sticky on mobile.", "dispatch", "frontend", None,
     "make the header sticky on mobile"),
    ("Tell the api agent to add pagination to the jobs and point.", "dispatch", "backend",
     None, "add pagination to the jobs and point"),
    ("Tell the API agent to add pagination to the jobs endpoint.", "dispatch", "backend",
     None, "add pagination to the jobs endpoint"),
    ("Ask backend to profile the server query.", "dispatch", "backend", None,
     "profile the server query"),
    ("Back end agent, upgrade the ORM and run the full test suite.", "dispatch", "backend",
     None, "upgrade the orm and run the full test suite"),
    ("Backend agent, upgrade the ORM and run the full test suite.", "dispatch", "backend",
     None, "upgrade the orm and run the full test suite"),
    ("Front end, remove the unused icons from the assets folder.", "dispatch", "frontend",
     None, "remove the unused icons from the assets folder"),
    ("front-end: fix the header", "dispatch", "frontend", None, "fix the header"),
    ("FrontEnd, fix the header!", "dispatch", "frontend", None, "fix the header"),
    ("Infra,bump the node version", "dispatch", "infra", None, "bump the node version"),
    ("Ops, restart nginx.", "dispatch", "infra", None, "restart nginx"),
    ("Server agent, restart the workers", "dispatch", "backend", None, "restart the workers"),
    ("The frontend agent, fix the header", "dispatch", "frontend", None, "fix the header"),
    ("Backend, stop the dev server.", "dispatch", "backend", None, "stop the dev server"),
    ("Research, what's the best result on the leaderboard?", "dispatch", "research", None,
     "what's the best result on the leaderboard"),
    ("Have the back-end agent run the migrations.", "dispatch", "backend", None,
     "run the migrations"),
    ("Ask the researcher to read the new paper.", "dispatch", "research", None,
     "read the new paper"),
    ("tell the UI agent to fix the header", "dispatch", "frontend", None, "fix the header"),
    ("Um, can you tell the backend to fix it?", "dispatch", "backend", None, "fix it"),
    ("Get the infra agent to clean the docker cache", "dispatch", "infra", None,
     "clean the docker cache"),
    ("front and, add a dark mode toggle", "dispatch", "frontend", None,
     "add a dark mode toggle"),
    ("Back and agent, fix the login page.", "dispatch", "backend", None, "fix the login page"),
    ("Tell the front and agent to fix the header", "dispatch", "frontend", None,
     "fix the header"),
]

STATUS: list[Row] = [
    ("What's running?", "status", None, None, None),
    ("what's running", "status", None, None, None),
    ("Status report.", "status", None, None, None),
    ("Status.", "status", None, None, None),
    ("status", "status", None, None, None),
    ("Give me a status update.", "status", None, None, None),
    ("What is running right now?", "status", None, None, None),
    ("What's the status?", "status", None, None, None),
    ("What's going on?", "status", None, None, None),
    ("How are things going?", "status", None, None, None),
    ("Show me the jobs.", "status", None, None, None),
    ("What is the status of job twelve?", "status", None, 12, None),
    ("What is the status of job 12?", "status", None, 12, None),
    ("what's the status of job twenty three", "status", None, 23, None),
    ("What is the status of job forty two?", "status", None, 42, None),
    ("How is job seven doing?", "status", None, 7, None),
    ("How is job 7 doing?", "status", None, 7, None),
    ("How's job twenty-three going?", "status", None, 23, None),
    ("What is the standard sub job 42?", "status", None, 42, None),
    ("job twenty-three status", "status", None, 23, None),
    ("Job 5 status.", "status", None, 5, None),
    ("Any update on job #5?", "status", None, 5, None),
    ("Job 3?", "status", None, 3, None),
    ("How is job for doing?", "status", None, 4, None),
    ("How is the backend agent doing?", "status", "backend", None, None),
    ("How is the research agent doing?", "status", "research", None, None),
    ("What is the front end agent working on?", "status", "frontend", None, None),
    ("What is the frontend agent working on?", "status", "frontend", None, None),
    ("What's infra working on?", "status", "infra", None, None),
    ("Is the backend agent busy?", "status", "backend", None, None),
    ("What's the backend status?", "status", "backend", None, None),
    ("Infra status", "status", "infra", None, None),
    ("Backend status report.", "status", "backend", None, None),
    ("Frontend, what's your status?", "status", "frontend", None, None),
    ("Status of the back end agent, please.", "status", "backend", None, None),
]

CANCEL: list[Row] = [
    ("Cancel job twelve.", "cancel", None, 12, None),
    ("Cancel job 12.", "cancel", None, 12, None),
    ("Stop job three.", "cancel", None, 3, None),
    ("Stop job free.", "cancel", None, 3, None),
    ("Kill job nineteen.", "cancel", None, 19, None),
    ("Kill job 19.", "cancel", None, 19, None),
    ("kill job #4", "cancel", None, 4, None),
    ("Cancel job number 8", "cancel", None, 8, None),
    ("Cancel job one hundred and five.", "cancel", None, 105, None),
    ("Cancel 12.", "cancel", None, 12, None),
    ("Can you cancel job 3?", "cancel", None, 3, None),
    ("Cancel job 12, please.", "cancel", None, 12, None),
    ("Stop the infra agent.", "cancel", "infra", None, None),
    ("stop the backend", "cancel", "backend", None, None),
    ("Cancel the front end agent.", "cancel", "frontend", None, None),
    ("Cancel the frontend agent.", "cancel", "frontend", None, None),
    ("Please stop the research agent.", "cancel", "research", None, None),
    ("Abort the API agent", "cancel", "backend", None, None),
]

EXPERIMENT: list[Row] = [
    ("Queue an experiment that doubles the learning rate warmup.", "experiment", None, None,
     "doubles the learning rate warmup"),
    ("Queue an experiment that doubles the learning rate to warm up.", "experiment", None,
     None, "doubles the learning rate to warm up"),
    ("Queue an experiment with a deeper model and a smaller batch size.", "experiment", None,
     None, "with a deeper model and a smaller batch size"),
    ("Queue an experiment with a deeper model and a smaller match size.", "experiment", None,
     None, "with a deeper model and a smaller match size"),
    ("Run an experiment that swaps the optimizer to plain Adam.", "experiment", None, None,
     "swaps the optimizer to plain adam"),
    ("Run an experiment next, swap, set up to minor to play nagon.", "experiment", None, None,
     "next, swap, set up to minor to play nagon"),
    ("Queue an experiment that reorders QK norm and rotary embeddings.", "experiment", None,
     None, "reorders qk norm and rotary embeddings"),
    ("new experiment: halve the warmup", "experiment", None, None, "halve the warmup"),
    ("New experiment. Halve the warmup.", "experiment", None, None, "halve the warmup"),
    ("Run an experiment where we freeze the embeddings", "experiment", None, None,
     "we freeze the embeddings"),
    ("Let's run another experiment with dropout 0.1", "experiment", None, None,
     "with dropout 0.1"),
    ("Could you queue up a new experiment where we halve the warmup?", "experiment", None, None,
     "we halve the warmup"),
    # Whisper's garbled "Queue an": a leading word that is no other command still counts.
    ("Q-man experiment, that reorder QK norm", "experiment", None, None, "reorder qk norm"),
]

RESULTS: list[Row] = [
    ("What's the best result so far?", "results", None, None, None),
    ("Show me the leaderboard.", "results", None, None, None),
    ("Show the leader board", "results", None, None, None),
    ("How are the experiments going?", "results", None, None, None),
    ("Any results yet?", "results", None, None, None),
    ("What experiment is winning?", "results", None, None, None),
]

CONFIRM_DENY: list[Row] = [
    ("Yes, go ahead.", "confirm", None, None, None),
    ("Yes.", "confirm", None, None, None),
    ("Confirm.", "confirm", None, None, None),
    ("confirm", "confirm", None, None, None),
    ("Go ahead.", "confirm", None, None, None),
    ("Do it.", "confirm", None, None, None),
    ("Okay, go ahead.", "confirm", None, None, None),
    ("Yeah, do it please.", "confirm", None, None, None),
    ("No, never mind.", "deny", None, None, None),
    ("No.", "deny", None, None, None),
    ("Never mind.", "deny", None, None, None),
    ("Don't.", "deny", None, None, None),
    ("Don't do it.", "deny", None, None, None),
    ("Nope", "deny", None, None, None),
]

UNKNOWN: list[Row] = [
    ("The weather is nice today.", "unknown", None, None, None),
    ("But when are we nice today?", "unknown", None, None, None),
    ("Database, drop the table", "unknown", None, None, None),
    ("And for, bump the base image to the latest python release.", "unknown", None, None,
     None),
    ("tell the frontend", "unknown", None, None, None),
    ("tell backend", "unknown", None, None, None),
    ("Frontend.", "unknown", None, None, None),
    ("", "unknown", None, None, None),
    ("   ", "unknown", None, None, None),
    ("...", "unknown", None, None, None),
    ("Thank you.", "unknown", None, None, None),
    ("Stop.", "unknown", None, None, None),
    ("Stop the experiment.", "unknown", None, None, None),
    ("Cancel the job for the backend", "unknown", None, None, None),
    ("Queue an experiment.", "unknown", None, None, None),
    ("Tell Bob to fix the build.", "unknown", None, None, None),
]


@pytest.mark.parametrize(("text", "type_", "agent", "job", "task"), DISPATCH)
def test_dispatch(text: str, type_: str, agent: str | None, job: int | None,
                  task: str | None) -> None:
    """Addressing an agent by name, alias, or tell/ask/have gives a dispatch."""
    _check(text, type_, agent, job, task)


@pytest.mark.parametrize(("text", "type_", "agent", "job", "task"), STATUS)
def test_status(text: str, type_: str, agent: str | None, job: int | None,
                task: str | None) -> None:
    """Overview, job and agent status questions."""
    _check(text, type_, agent, job, task)


@pytest.mark.parametrize(("text", "type_", "agent", "job", "task"), CANCEL)
def test_cancel(text: str, type_: str, agent: str | None, job: int | None,
                task: str | None) -> None:
    """Cancel / stop / kill a job or an agent."""
    _check(text, type_, agent, job, task)


@pytest.mark.parametrize(("text", "type_", "agent", "job", "task"), EXPERIMENT)
def test_experiment(text: str, type_: str, agent: str | None, job: int | None,
                    task: str | None) -> None:
    """Experiment requests keep the description after the word 'experiment'."""
    _check(text, type_, agent, job, task)


@pytest.mark.parametrize(("text", "type_", "agent", "job", "task"), RESULTS)
def test_results(text: str, type_: str, agent: str | None, job: int | None,
                 task: str | None) -> None:
    """Leaderboard and results questions."""
    _check(text, type_, agent, job, task)


@pytest.mark.parametrize(("text", "type_", "agent", "job", "task"), CONFIRM_DENY)
def test_confirm_and_deny(text: str, type_: str, agent: str | None, job: int | None,
                          task: str | None) -> None:
    """Short yes / no answers; a negation wins."""
    _check(text, type_, agent, job, task)


@pytest.mark.parametrize(("text", "type_", "agent", "job", "task"), UNKNOWN)
def test_unknown(text: str, type_: str, agent: str | None, job: int | None,
                 task: str | None) -> None:
    """Anything else, unknown names and empty commands are unknown."""
    _check(text, type_, agent, job, task)


@pytest.mark.parametrize(
    "text",
    ["Frontend, fix it.", "What's running?", "Cancel job 3.", "Yes.", "Show me the leaderboard."],
)
def test_exact_matches_have_full_confidence(text: str) -> None:
    """Exact grammar and name matches carry confidence 1.0."""
    assert parse_command(text, AGENTS).confidence == 1.0


def test_fuzzy_name_confidence_is_kept() -> None:
    """A near-miss name dispatches with the name's confidence (< 1)."""
    intent = parse_command("Front and, add a toggle.", AGENTS)
    assert intent.agent == "frontend"
    assert 0.9 < intent.confidence < 1.0


def test_refused_name_records_its_confidence() -> None:
    """A name below the threshold gives unknown, carrying the refused confidence."""
    intent = parse_command("And for, bump the base image.", AGENTS)
    assert intent.type == "unknown"
    assert 0.5 <= intent.confidence < 0.75


def test_min_confidence_is_the_threshold() -> None:
    """Raising min_confidence refuses a near miss; lowering it accepts one."""
    strict = parse_command("Front and, add a toggle.", AGENTS, min_confidence=0.95)
    assert strict == Intent("unknown", confidence=strict.confidence)
    assert 0.9 < strict.confidence < 0.95
    loose = parse_command("And for, bump the base image.", AGENTS, min_confidence=0.5)
    assert (loose.type, loose.agent, loose.task) == ("dispatch", "infra", "bump the base image")


def test_unknown_without_any_name_has_zero_confidence() -> None:
    """Unknown intents with no near-miss name carry confidence 0.0."""
    assert parse_command("The weather is nice today.", AGENTS).confidence == 0.0
    assert parse_command("", AGENTS).confidence == 0.0


def test_unknown_agent_is_never_rerouted() -> None:
    """An agent that is not configured does not land on a configured one."""
    intent = parse_command("Tell the database agent to vacuum.", {"backend": ["api"]})
    assert intent.type == "unknown"
    assert intent.agent is None


def test_configured_agents_drive_matching() -> None:
    """Any configured name works; names missing from the config do not."""
    agents = {"docs": ["writer"]}
    assert parse_command("Writer, fix the typo.", agents).agent == "docs"
    assert parse_command("Frontend, fix the typo.", agents).type == "unknown"


def test_tokenize_marks_pauses_and_keeps_spelling() -> None:
    """Tokens keep Whisper's spelling, a bare word, and whether punctuation follows."""
    tokens = tokenize("Research. Compare yesterday\u2019s runs - now")
    assert [t.word for t in tokens] == ["research", "compare", "yesterday's", "runs", "now"]
    assert [t.pause for t in tokens] == [True, False, False, True, False]
    assert tokens[0].raw == "Research."


@pytest.mark.parametrize("text", [
    "How is the measure change in doing?", "How's the mystery agent doing?",
])
def test_how_is_something_that_names_no_agent_is_not_an_overview(text: str) -> None:
    assert parse_command(text, AGENTS).type == "unknown"


@pytest.mark.parametrize("text", [
    "How is it going?", "How are things going?", "How is everything going?",
    "How are the jobs doing?", "What is going on?",
])
def test_how_is_everything_going_is_still_an_overview(text: str) -> None:
    assert parse_command(text, AGENTS) == Intent("status")
