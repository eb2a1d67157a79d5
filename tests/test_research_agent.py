"""The research agent against the fake Messages API, through the real anthropic client."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_anthropic import Fail, FakeAnthropic, Hang, Reply, sequence, text, tool_use

from voicedesk import llm
from voicedesk.agents.protocol import JobContext, JobResult
from voicedesk.agents.research import SYSTEM_PROMPT, ResearchAgent, first_sentence
from voicedesk.config import AgentSettings, LlmSettings
from voicedesk.errors import AgentError
from voicedesk.store import Store

TASK = "find a better learning rate for the small transformer"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A real store in a temporary directory."""
    opened = Store(tmp_path / "v.db")
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key in the environment and no stray base URL."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)


class Job:
    """One research job's context and the events it emitted."""

    def __init__(self, store: Store, base_url: str, llm_options: dict[str, Any],
                 agent_options: dict[str, Any]) -> None:
        """Create the job in the store and its context."""
        self.events: list[tuple[str, str]] = []
        self.context = JobContext(
            job=store.create_job("research", TASK),
            agent="research",
            settings=AgentSettings(kind="research", **agent_options),
            llm=LlmSettings(**{"base_url": base_url, "max_retries": 0, **llm_options}),
            store=store,
            emit=lambda kind, message: self.events.append((kind, message)),
            worktrees_dir=store.path.parent / "worktrees",
        )

    def run(self) -> JobResult:
        """Run the research agent on the job."""
        return asyncio.run(asyncio.wait_for(ResearchAgent().run(self.context), 30))

    def kinds(self) -> list[str]:
        """The kinds of the emitted events, in order."""
        return [kind for kind, _ in self.events]


def _job(store: Store, fake: FakeAnthropic, llm_options: dict[str, Any] | None = None,
         **agent_options: Any) -> Job:
    """A job pointed at the fake."""
    return Job(store, fake.base_url, llm_options or {}, agent_options)


def _tool_results(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool_result blocks of a request's last (user) message."""
    last = request["messages"][-1]
    assert last["role"] == "user"
    return [block for block in last["content"] if block["type"] == "tool_result"]


def test_propose_then_finish(store: Store) -> None:
    """An experiment is recorded, the summary comes from finish, progress is emitted."""
    first = Reply(
        [{"type": "text", "text": "I will propose a sweep."},
         {"type": "tool_use", "id": "toolu_a", "name": "propose_experiment",
          "input": {"description": "sweep lr 1e-4 to 1e-3", "hypothesis": "3e-4 is best"}}],
        stop_reason="tool_use",
    )
    finish = tool_use("finish", {"summary": "I proposed a learning-rate sweep.",
                                 "details": "five points, log-spaced"})
    with FakeAnthropic(sequence(first, finish)) as fake:
        job = _job(store, fake)
        result = job.run()
    assert result.summary == "I proposed a learning-rate sweep."
    [experiment] = store.experiments()
    assert experiment.description == "sweep lr 1e-4 to 1e-3"
    assert experiment.proposed_by == "agent:research"
    assert job.kinds() == ["text", "tool", "cost", "tool", "cost"]
    assert job.events[0] == ("text", "I will propose a sweep.")
    assert job.events[1][1].startswith('propose_experiment {"description": "sweep lr')
    assert job.events[-1] == ("cost", "$0.0002 after 2 turns")
    assert result.cost_usd == pytest.approx(2 * (10 * 3.0 + 5 * 15.0) / 1e6)
    for line in (TASK, "experiment 1 recorded", "3e-4 is best", "five points", "summary:"):
        assert line in result.log
    assert len(fake.requests) == 2
    request = fake.requests[1]
    assert _tool_results(request) == [{"type": "tool_result", "tool_use_id": "toolu_a",
                                       "content": "experiment 1 recorded", "is_error": False}]
    assert request["messages"][0] == {"role": "user", "content": TASK}
    assert request["messages"][1]["content"][1]["id"] == "toolu_a"
    assert request["system"] == SYSTEM_PROMPT
    assert request["model"] == LlmSettings().model
    assert request["max_tokens"] == AgentSettings(kind="research").max_tokens
    assert request["stream"] is True
    names = [tool["name"] for tool in request["tools"]]
    assert names == ["propose_experiment", "read_results", "read_training_file", "submit_patch",
                     "ask_user", "finish"]


def test_read_results_then_end_turn(store: Store) -> None:
    """read_results lists the ledger; a final text's first sentence is the summary."""
    store.create_experiment("baseline at lr 1e-3", proposed_by="user")
    answer = text("One baseline is queued and nothing has finished. Wait for it to run.")
    with FakeAnthropic(sequence(tool_use("read_results", {}), answer)) as fake:
        result = _job(store, fake, model="claude-custom", max_tokens=1000).run()
    assert result.summary == "One baseline is queued and nothing has finished."
    [tool_result] = _tool_results(fake.requests[1])
    assert tool_result["content"] == "1 [queued] baseline at lr 1e-3"
    assert fake.requests[0]["model"] == "claude-custom"
    assert fake.requests[0]["max_tokens"] == 1000


def test_read_results_when_empty_and_bad_tool_calls(store: Store) -> None:
    """An empty ledger says so; unknown tools and bad inputs are errors the model sees."""
    calls = Reply(
        [{"type": "tool_use", "id": "t1", "name": "read_results", "input": {}},
         {"type": "tool_use", "id": "t2", "name": "rm_rf", "input": {}},
         {"type": "tool_use", "id": "t3", "name": "propose_experiment", "input": {}}],
        stop_reason="tool_use",
    )
    with FakeAnthropic(sequence(calls, tool_use("finish", {"summary": "Nothing to add."}))) as fake:
        result = _job(store, fake).run()
    assert result.summary == "Nothing to add."
    results = {r["tool_use_id"]: r for r in _tool_results(fake.requests[1])}
    assert results["t1"]["content"] == "no experiments yet"
    assert results["t2"]["is_error"] is True and "unknown tool" in results["t2"]["content"]
    assert results["t3"]["is_error"] is True and "description" in results["t3"]["content"]
    assert store.experiments() == []


def test_budget_used_up(store: Store) -> None:
    """Each turn costs $0.30; a $0.50 budget stops the loop after two turns."""
    costly = Reply([{"type": "tool_use", "id": "t", "name": "read_results", "input": {}}],
                   stop_reason="tool_use", usage={"input_tokens": 100_000, "output_tokens": 0})
    with FakeAnthropic(sequence(costly)) as fake:
        job = _job(store, fake, max_budget_usd=0.5)
        with pytest.raises(AgentError, match=r"budget of \$0\.50 used up after 2 turns"):
            job.run()
    assert len(fake.requests) == 2
    assert job.events[-1] == ("cost", "$0.6000 after 2 turns")


def test_max_turns(store: Store) -> None:
    """A model that never finishes is stopped after max_turns rounds."""
    with (
        FakeAnthropic(sequence(tool_use("read_results", {}))) as fake,
        pytest.raises(AgentError, match="no answer after 3 turns"),
    ):
        _job(store, fake, max_turns=3).run()
    assert len(fake.requests) == 3


@pytest.mark.parametrize("value", [None, "   "])
def test_no_key_fails_fast(store: Store, monkeypatch: pytest.MonkeyPatch,
                           value: str | None) -> None:
    """Without a key the job fails at once, naming the variable, and sends nothing."""
    if value is None:
        monkeypatch.delenv("ANTHROPIC_API_KEY")
    else:
        monkeypatch.setenv("ANTHROPIC_API_KEY", value)
    with (
        FakeAnthropic(sequence(text("never"))) as fake,
        pytest.raises(AgentError, match="ANTHROPIC_API_KEY"),
    ):
        _job(store, fake).run()
    assert fake.requests == [] and fake.paths == []


def test_rate_limit_retried_once(store: Store) -> None:
    """A 429 then a 200: the client retries once (max_retries=1) and the job succeeds."""
    limited = Fail(429, "slow down", headers={"retry-after": "0", "retry-after-ms": "1"})
    script = sequence(limited, tool_use("finish", {"summary": "Done."}))
    with FakeAnthropic(script) as fake:
        result = _job(store, fake, {"max_retries": 1}).run()
    assert result.summary == "Done."
    assert len(fake.requests) == 2


def test_hang_is_a_timeout(store: Store) -> None:
    """An API that never answers fails the job with the timeout in the reason."""
    with (
        FakeAnthropic(sequence(Hang(30))) as fake,
        pytest.raises(AgentError, match="did not answer within 1 s"),
    ):
        _job(store, fake, {"timeout_s": 1, "max_retries": 0}).run()


def test_status_error_reason(store: Store) -> None:
    """An API error answer becomes a one-line reason with the status and the API's message."""
    with (
        FakeAnthropic(sequence(Fail(404, "model: claude-nope", "not_found_error"))) as fake,
        pytest.raises(AgentError) as caught,
    ):
        _job(store, fake).run()
    assert str(caught.value) == "the Anthropic API answered 404: model: claude-nope"


def test_connection_refused(store: Store) -> None:
    """Nothing listening: the reason says the API cannot be reached."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    job = Job(store, f"http://127.0.0.1:{port}", {"max_retries": 0}, {})
    with pytest.raises(AgentError, match="cannot reach the Anthropic API"):
        job.run()


def test_cancel_stops_a_waiting_job(store: Store) -> None:
    """Cancelling the run while the API hangs ends it promptly with CancelledError."""

    async def cancel_soon(job: Job) -> None:
        """Start the job, then cancel it."""
        task = asyncio.create_task(ResearchAgent().run(job.context))
        await asyncio.sleep(0.3)
        task.cancel()
        await task

    with FakeAnthropic(sequence(Hang(30))) as fake:
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            asyncio.run(cancel_soon(_job(store, fake, {"timeout_s": 30})))
        assert time.monotonic() - started < 5
    assert len(fake.requests) == 1


def test_refusal_and_empty_answer(store: Store) -> None:
    """A refusal or an answer with no text fails the job with a reason."""
    refusal = Reply([{"type": "text", "text": "No."}], stop_reason="refusal")
    with FakeAnthropic(sequence(refusal)) as fake, pytest.raises(AgentError, match="refused"):
        _job(store, fake).run()
    with (
        FakeAnthropic(sequence(Reply([], stop_reason="max_tokens"))) as fake,
        pytest.raises(AgentError, match="without an answer"),
    ):
        _job(store, fake).run()


def test_first_sentence_and_cost() -> None:
    """Summaries are the first sentence, cut near 200 characters; cost uses the prices."""
    assert first_sentence("Done here.  Then more.") == "Done here."
    long = first_sentence("word " * 100)
    assert len(long) <= 200 and long.endswith("…")
    usage = type("U", (), {"input_tokens": 1_000_000, "output_tokens": 1_000_000})()
    assert llm.cost_usd(usage, LlmSettings()) == pytest.approx(18.0)


def test_through_the_runner_a_hang_is_a_failed_job_not_a_stuck_one(tmp_path: Path) -> None:
    """The runner records the timeout as the job's failure, and the next job still runs."""
    from agent_helpers import run_jobs, settings_with

    from voicedesk.agents.runner import Runner

    with FakeAnthropic(sequence(Hang(30), tool_use("finish", {"summary": "All done."}))) as fake:
        settings = settings_with(tmp_path, {"research": {"kind": "research"}})
        settings = settings.model_copy(update={"llm": LlmSettings(
            base_url=fake.base_url, timeout_s=1, max_retries=0)})
        runner_store = Store.in_dir(settings.data_dir())
        stuck = runner_store.create_job("research", TASK)
        fine = runner_store.create_job("research", "summarise the leaderboard")
        run_jobs(Runner(settings, runner_store), [stuck.id, fine.id], timeout=30)
    failed, done = runner_store.job(stuck.id), runner_store.job(fine.id)
    assert failed is not None and failed.status == "failed"
    assert "did not answer within 1 s" in (failed.error or "")
    assert done is not None and (done.status, done.result) == ("done", "All done.")


def test_a_failed_job_keeps_its_log(store: Store) -> None:
    """A job stopped by its budget still has the conversation so far in its log."""
    answer = Reply([{"type": "text", "text": "Looking."}, {"type": "tool_use", "id": "t1",
                    "name": "read_results", "input": {}}], "tool_use",
                   usage={"input_tokens": 1_000_000, "output_tokens": 0})
    with FakeAnthropic(sequence(answer)) as fake, pytest.raises(AgentError) as caught:
        _job(store, fake, max_budget_usd=1.0).run()
    assert "budget" in str(caught.value)
    assert caught.value.log.startswith(f"task: {TASK}")
    assert "Looking." in caught.value.log and caught.value.log.endswith(str(caught.value))


PATCH = """\
--- a/train.py
+++ b/train.py
@@ -1,2 +1,2 @@
-WARMUP = 10
+WARMUP = 5
 print("val_bpb:", 1.0)
"""


def test_the_research_agent_writes_the_patch_of_a_spoken_experiment(
    store: Store, tmp_path: Path
) -> None:
    """A needs_change experiment gets its patch checked against the baseline, then queued."""
    import subprocess

    from agent_helpers import make_repo

    from voicedesk.config import ExperimentSettings
    from voicedesk.experiments.ledger import Ledger, Submission

    repo = make_repo(tmp_path / "repo")
    (repo / "train.py").write_text('WARMUP = 10\nprint("val_bpb:", 1.0)\n')
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e"]
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "train"], check=True)
    settings = ExperimentSettings(repo=repo)
    ledger = Ledger(store, settings)
    waiting, _ = ledger.submit(Submission("halve the warmup", "voice", needs_change="no patch"))
    bad_patch = PATCH.replace("WARMUP = 10", "WARMUP = 99")
    with FakeAnthropic(sequence(
        tool_use("read_training_file", {"experiment_id": waiting.id}),
        tool_use("submit_patch", {"experiment_id": waiting.id, "patch": bad_patch}),
        tool_use("submit_patch", {"experiment_id": waiting.id, "patch": PATCH}),
        tool_use("finish", {"summary": "Experiment 1 is queued with the warmup halved."}),
    )) as fake:
        job = _job(store, fake)
        job.context = dataclasses.replace(job.context, experiments=settings)
        result = job.run()
    assert result.summary == "Experiment 1 is queued with the warmup halved."
    read, refused, accepted = (_tool_results(fake.requests[n])[0] for n in (1, 2, 3))
    assert "WARMUP = 10" in str(read["content"]) and not read["is_error"]
    assert refused["is_error"] and "the patch does not apply" in str(refused["content"])
    assert not accepted["is_error"]
    queued = ledger.get(waiting.id)
    assert queued is not None and (queued.status, queued.patch, queued.reason) == (
        "queued", PATCH, None
    )
