"""Claude Code's permission prompts and clarifying questions, put to the user by voice.

`tool_permission` makes the `can_use_tool` callback of a coding job: when Claude Code asks to
use a tool that no rule or mode approves (Bash under permission mode "default", say), the job
asks through `Questions` ("may it run: npm test?"), waits for the spoken answer, and allows or
denies per `permission_decision`. Claude Code's own AskUserQuestion tool reaches the same
callback; each of its questions is asked in turn and the answers go back as the tool's
`answers` (question text → the chosen label or the words said). The guard's PreToolUse hook
runs before this callback, so a guard denial is never put to the user.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from claude_agent_sdk.types import (
    CanUseTool,
    PermissionResult,
    PermissionResultAllow,
    PermissionResultDeny,
    ToolPermissionContext,
)

from voicedesk.agents.answers import choose_option, permission_decision, question_prompt
from voicedesk.agents.coding_log import describe_tool, shorten
from voicedesk.agents.protocol import JobContext
from voicedesk.agents.questions import POLL_S, Questions
from voicedesk.errors import AgentError
from voicedesk.types import QuestionKind

ASK_USER_QUESTION = "AskUserQuestion"
"""Claude Code's tool for asking the user clarifying questions."""

PROMPT_CHARS = 120
"""The longest command or path in a spoken permission prompt."""

_VERBS = {
    "Bash": "run:", "Write": "write", "Edit": "edit", "MultiEdit": "edit", "NotebookEdit": "edit",
    "Read": "read", "Glob": "look for", "Grep": "search for", "WebFetch": "fetch",
    "WebSearch": "search the web for",
}


def permission_prompt(tool: str, tool_input: dict[str, Any], worktree: Path | None = None) -> str:
    """A spoken permission question: 'may it run: npm test?', 'may it edit settings.tsx?'."""
    described = describe_tool(tool, tool_input, worktree)
    detail = described[len(tool):].strip() if described.startswith(tool) else described
    verb = _VERBS.get(tool)
    if verb is None:
        return f"may it use {tool}: {detail}?" if detail else f"may it use {tool}?"
    return f"may it {verb} {shorten(detail, PROMPT_CHARS)}?".replace("  ", " ")


NO_ANSWER = "The user did not answer in time: carry on without this, or finish and say why."
"""What Claude Code is told when a question times out."""


class _Asker:
    """Asks one job's questions and waits for their answers."""

    def __init__(self, context: JobContext, worktree: Path | None, poll_s: float) -> None:
        """Ask for the job of `context`; show paths relative to `worktree`."""
        self.context, self.worktree, self.poll_s = context, worktree, poll_s
        self.questions = Questions(context.store)

    async def ask(self, kind: QuestionKind, prompt: str) -> str | None:
        """Ask, report that the job waits, and return the answer (None: none came in the
        agent's answer_timeout_s); a cancelled or timed-out wait closes the question."""
        job = self.context.job
        question = self.questions.ask(job.id, self.context.agent, kind, prompt)
        self.context.emit("note", f"waiting for the user's answer (question {question.id})")
        timeout = self.context.settings.answer_timeout_s
        try:
            async with asyncio.timeout(timeout):
                answered = await self.questions.wait(question.id, self.poll_s)
        except TimeoutError:
            self.questions.close(question.id)
            self.context.emit("note", f"no answer to question {question.id} in {timeout:g} s")
            return None
        except BaseException:
            self.questions.close(question.id)
            raise
        return answered.answer or ""

    async def __call__(
        self, tool: str, tool_input: dict[str, Any], _: ToolPermissionContext
    ) -> PermissionResult:
        """Claude Code's permission request (or clarifying question), answered by the user."""
        try:
            if tool == ASK_USER_QUESTION:
                return await self.clarify(tool_input)
            return await self.permit(tool, tool_input)
        except AgentError as exc:  # the question was closed under us: no answer is a no
            return PermissionResultDeny(message=str(exc), interrupt=True)

    async def permit(self, tool: str, tool_input: dict[str, Any]) -> PermissionResult:
        """Ask whether the tool may run; allow or deny per the answer."""
        answer = await self.ask("permission", permission_prompt(tool, tool_input, self.worktree))
        shown = describe_tool(tool, tool_input, self.worktree)
        if answer is None:
            self.context.emit("denied", f"no answer about {shown}")
            return PermissionResultDeny(message=NO_ANSWER)
        decision = permission_decision(answer)
        if decision.allow:
            self.context.emit("note", f"the user allowed {shown}")
            return PermissionResultAllow()
        self.context.emit("denied", f"the user did not allow {shown}: {answer}")
        return PermissionResultDeny(message=decision.message)

    async def clarify(self, tool_input: dict[str, Any]) -> PermissionResult:
        """Ask each of AskUserQuestion's questions; the answers go back in the tool's input."""
        answers: dict[str, str] = {}
        for item in tool_input.get("questions") or []:
            if not isinstance(item, dict) or not isinstance(item.get("question"), str):
                continue
            labels = [str(option.get("label", "")) for option in item.get("options") or []
                      if isinstance(option, dict) and option.get("label")]
            said = await self.ask("question", question_prompt(item["question"], labels))
            if said is None:
                return PermissionResultDeny(message=NO_ANSWER)
            answers[item["question"]] = choose_option(said, labels)
        if not answers:
            return PermissionResultDeny(message="AskUserQuestion had no question to ask")
        return PermissionResultAllow(updated_input={**tool_input, "answers": answers})


def tool_permission(
    context: JobContext, worktree: Path | None = None, poll_s: float = POLL_S
) -> CanUseTool:
    """The `can_use_tool` callback of one coding job: ask the user, by voice, and wait."""
    return _Asker(context, worktree, poll_s)
