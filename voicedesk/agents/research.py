"""The research agent: a Messages API tool loop that reads and proposes ML experiments.

The user's request is the task; the model may `read_results` (the experiment ledger),
`propose_experiment` (a queued experiment), `ask_user` (a spoken question) and `finish`.
The loop is bounded by the agent's `max_turns` and `max_budget_usd`; API failures become
`AgentError` with one line, so the job fails with a reason rather than a traceback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anthropic
from anthropic.types import Message, MessageParam, ToolParam, ToolResultBlockParam, ToolUseBlock

from voicedesk import llm
from voicedesk.agents.protocol import JobContext, JobResult
from voicedesk.agents.research_ask import ASK_USER_TOOL, ask_user, close_questions
from voicedesk.config import LlmSettings
from voicedesk.errors import AgentError, LlmError, StoreError

SYSTEM_PROMPT = (
    "You are the research agent of voicedesk, a voice console. The user message is the "
    "user's request for research on machine-learning training experiments. Use read_results "
    "to see the experiments already recorded, propose_experiment to record each training run "
    "worth doing (one concrete, runnable description each), and finish when done, with a "
    "summary of one short sentence that will be spoken aloud. When the task is to write the "
    "patch for an experiment, read_training_file, then submit_patch with a unified diff that "
    "makes exactly that one change, then finish. Only when a decision is the user's to make, "
    "ask_user one short question and use the answer."
)
"""The system prompt of every research job."""

_TOOLS: list[ToolParam] = [
    {
        "name": "propose_experiment",
        "description": "Record one proposed training experiment in the experiment queue.",
        "input_schema": {
            "type": "object",
            "properties": {
                "description": {"type": "string", "description": "What to run, concretely."},
                "hypothesis": {"type": "string", "description": "What it should show."},
            },
            "required": ["description"],
        },
    },
    {
        "name": "read_results",
        "description": "List the recorded experiments: id, status and description.",
        "input_schema": {"type": "object", "properties": {}},
    },
    {
        "name": "read_training_file",
        "description": "The training file an experiment changes, as it is on its baseline.",
        "input_schema": {"type": "object", "properties": {"experiment_id": {"type": "integer"}},
                         "required": ["experiment_id"]},
    },
    {
        "name": "submit_patch",
        "description": "Give an experiment waiting for its change a unified diff (git apply "
                       "format, paths relative to the repo); it is checked, then queued.",
        "input_schema": {"type": "object", "properties": {
            "experiment_id": {"type": "integer"}, "patch": {"type": "string"}},
            "required": ["experiment_id", "patch"]},
    },
    ASK_USER_TOOL,
    {
        "name": "finish",
        "description": "End the research with a one-sentence spoken summary.",
        "input_schema": {
            "type": "object",
            "properties": {
                "summary": {"type": "string", "description": "One sentence, to be spoken."},
                "details": {"type": "string", "description": "Anything longer, for the log."},
            },
            "required": ["summary"],
        },
    },
]

SUMMARY_CHARS = 200
"""The longest summary kept; longer ones are cut at a word."""

EVENT_CHARS = 200
"""The longest tool-input text in a progress event."""

RESULTS_SHOWN = 30
"""How many experiments read_results lists (newest first)."""

ClientFactory = Callable[[LlmSettings], anthropic.AsyncAnthropic]
"""Builds the async Anthropic client from the [llm] settings."""


def _cap(text: str, limit: int) -> str:
    """Whitespace collapsed and cut at a word to at most `limit` characters."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    head = flat[: limit - 1]
    if " " in head:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;:") + "…"


def first_sentence(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The first sentence of a text, trimmed to about `limit` characters."""
    flat = " ".join(text.split())
    sentence = re.split(r"(?<=[.!?])\s", flat, maxsplit=1)[0]
    return _cap(sentence, limit)


@dataclass
class _Run:
    """One job's loop state: the log, the money spent, the turns taken, the summary."""

    context: JobContext
    log: list[str] = field(default_factory=list)
    cost: float = 0.0
    turns: int = 0
    summary: str | None = None

    def record_turn(self, message: Message) -> None:
        """Count a turn and its cost; log and emit its text."""
        self.turns += 1
        self.cost += llm.cost_usd(message.usage, self.context.llm)
        self.log.append(f"--- turn {self.turns} ({message.stop_reason}) ---")
        for block in message.content:
            if block.type == "text" and block.text.strip():
                self.log.append(f"assistant: {block.text.strip()}")
                self.context.emit("text", block.text.strip())

    def report_cost(self) -> None:
        """Emit the money spent so far."""
        self.context.emit("cost", f"${self.cost:.4f} after {self.turns} turns")

    async def use_tools(self, blocks: list[ToolUseBlock]) -> list[ToolResultBlockParam]:
        """Run each tool call in order; `finish` sets the summary."""
        results: list[ToolResultBlockParam] = []
        for block in blocks:
            shown = _cap(json.dumps(block.input, ensure_ascii=False), EVENT_CHARS)
            self.context.emit("tool", f"{block.name} {shown}")
            self.log.append(f"tool {block.name} {json.dumps(block.input, ensure_ascii=False)}")
            answer, is_error = await self._tool(block.name, block.input)
            self.log.append(f"{'error' if is_error else 'result'}: {answer}")
            results.append({"type": "tool_result", "tool_use_id": block.id, "content": answer,
                            "is_error": is_error})
        return results

    async def _tool(self, name: str, arguments: object) -> tuple[str, bool]:
        """One tool's answer text and whether it is an error."""
        args: dict[str, Any] = arguments if isinstance(arguments, dict) else {}
        if name == "ask_user":
            return await ask_user(self.context, args)
        if name == "propose_experiment":
            return self._propose(args)
        if name == "read_results":
            return self._results(), False
        if name in ("read_training_file", "submit_patch"):
            return self._patch_tool(name, args)
        if name == "finish":
            summary = args.get("summary")
            if not isinstance(summary, str) or not summary.strip():
                return "finish needs a non-empty summary", True
            self.summary = _cap(summary, SUMMARY_CHARS)
            if isinstance(args.get("details"), str):
                self.log.append(f"details: {args['details'].strip()}")
            return "finished", False
        return f"unknown tool {name!r}", True

    def _propose(self, args: dict[str, Any]) -> tuple[str, bool]:
        """Record a proposed experiment in the store."""
        description = args.get("description")
        if not isinstance(description, str) or not description.strip():
            return "propose_experiment needs a non-empty description", True
        if isinstance(args.get("hypothesis"), str):
            self.log.append(f"hypothesis: {args['hypothesis'].strip()}")
        try:
            experiment = self.context.store.create_experiment(
                description.strip(), proposed_by=f"agent:{self.context.agent}"
            )
        except StoreError as exc:
            raise AgentError(f"research could not record an experiment: {exc}") from None
        return f"experiment {experiment.id} recorded", False

    def _patch_tool(self, name: str, args: dict[str, Any]) -> tuple[str, bool]:
        """read_training_file and submit_patch, on the experiment ledger."""
        from voicedesk.experiments import patches
        from voicedesk.experiments.ledger import Ledger

        number = args.get("experiment_id")
        if not isinstance(number, int):
            return f"{name} needs an integer experiment_id", True
        ledger = Ledger(self.context.store, self.context.experiments)
        if name == "read_training_file":
            return patches.training_file(ledger, number)
        patch = args.get("patch")
        if not isinstance(patch, str) or not patch.strip():
            return "submit_patch needs a non-empty patch", True
        return patches.submit_patch(ledger, number, patch if patch.endswith("\n") else patch + "\n")

    def _results(self) -> str:
        """The recorded experiments as short lines, newest first."""
        experiments = self.context.store.experiments()
        if not experiments:
            return "no experiments yet"
        lines = [f"{e.id} [{e.status}] {e.description}" for e in experiments[:RESULTS_SHOWN]]
        if len(experiments) > RESULTS_SHOWN:
            lines.append(f"... and {len(experiments) - RESULTS_SHOWN} older")
        return "\n".join(lines)

    def result(self, summary: str) -> JobResult:
        """The finished job."""
        self.log.append(f"summary: {summary}")
        self.log.append(f"cost: ${self.cost:.4f} after {self.turns} turns")
        return JobResult(summary=summary, log="\n".join(self.log), cost_usd=self.cost)

    def check_limits(self) -> None:
        """Stop with a reason once the turns or the budget are used up."""
        settings = self.context.settings
        if self.cost >= settings.max_budget_usd:
            raise AgentError(
                f"research stopped: budget of ${settings.max_budget_usd:.2f} used up "
                f"after {self.turns} turns"
            )
        if self.turns >= settings.max_turns:
            raise AgentError(f"research stopped: no answer after {self.turns} turns (max_turns)")


class ResearchAgent:
    """Runs research jobs against the Anthropic Messages API with experiment tools."""

    def __init__(self, client_factory: ClientFactory = llm.async_client) -> None:
        """Use `client_factory` to build the API client for each job."""
        self._client_factory = client_factory

    async def run(self, context: JobContext) -> JobResult:
        """Run the tool loop until `finish`, a final answer, or a limit; fail with a reason."""
        try:
            client = self._client_factory(context.llm)
        except LlmError as exc:
            raise AgentError(str(exc)) from None
        try:
            return await self._loop(client, context)
        finally:
            close_questions(context)
            await client.close()

    async def _loop(self, client: anthropic.AsyncAnthropic, context: JobContext) -> JobResult:
        """Ask, use tools, repeat."""
        run = _Run(context, log=[f"task: {context.job.task}"])
        try:
            return await self._turns(client, context, run)
        except AgentError as exc:  # the job fails, but keeps what was said so far
            raise AgentError(str(exc), log="\n".join([*run.log, f"failed: {exc}"])) from None

    async def _turns(
        self, client: anthropic.AsyncAnthropic, context: JobContext, run: _Run
    ) -> JobResult:
        """Turns until `finish`, a final answer, or a limit."""
        messages: list[MessageParam] = [{"role": "user", "content": context.job.task}]
        while True:
            run.check_limits()
            message = await _ask(client, context, messages)
            run.record_turn(message)
            tool_blocks = [block for block in message.content if isinstance(block, ToolUseBlock)]
            results = await run.use_tools(tool_blocks)
            run.report_cost()
            if run.summary is not None:
                return run.result(run.summary)
            if results:
                messages += [message.to_param(), {"role": "user", "content": results}]
                continue
            if message.stop_reason == "refusal":
                raise AgentError("the model refused the research request")
            answer = " ".join(b.text for b in message.content if b.type == "text").strip()
            if not answer:
                raise AgentError(f"research ended without an answer ({message.stop_reason})")
            return run.result(first_sentence(answer))


async def _ask(
    client: anthropic.AsyncAnthropic, context: JobContext, messages: list[MessageParam]
) -> Message:
    """One streamed Messages API call; API failures become AgentError."""
    try:
        async with client.messages.stream(
            model=context.settings.model or context.llm.model,
            max_tokens=context.settings.max_tokens,
            system=SYSTEM_PROMPT,
            tools=_TOOLS,
            messages=messages,
        ) as stream:
            return await stream.get_final_message()
    except anthropic.APIError as exc:
        raise AgentError(llm.describe_api_error(exc, context.llm)) from None
    except ValueError as exc:  # the stream's tool input was not JSON
        reason = llm.one_line(str(exc))
        raise AgentError(f"the Anthropic API sent an unreadable answer: {reason}") from None
