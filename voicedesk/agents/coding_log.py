"""What a Claude Code session said, as it streams: progress events, a readable log, a result.

Pure apart from the event sink it is given: it turns claude-agent-sdk messages into events
(text, tool, session, denied, cost), log lines, and at the end a `JobResult` whose summary is
one sentence fit to be spoken, or an `AgentError` saying why the session failed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from claude_agent_sdk import (
    AssistantMessage,
    Message,
    ResultMessage,
    SystemMessage,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)

from voicedesk.agents.protocol import EventSink, JobResult
from voicedesk.errors import AgentError

SUMMARY_LIMIT = 200
"""The longest spoken summary, in characters."""

_EVENT_LIMIT = 120
_LOG_ENTRY_LIMIT = 2000
_PATH_KEYS = ("file_path", "notebook_path", "path")
_MAIN_KEYS = ("command", *_PATH_KEYS, "pattern", "url", "query", "description", "prompt")


def shorten(text: str, limit: int) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def describe_tool(name: str, tool_input: dict[str, Any], worktree: Path | None = None) -> str:
    """A short line for a tool call: its name and its main argument (paths worktree-relative)."""
    key = next((k for k in _MAIN_KEYS if isinstance(tool_input.get(k), str)), None)
    if key is None:
        detail = json.dumps(tool_input, ensure_ascii=False, sort_keys=True) if tool_input else ""
    else:
        detail = str(tool_input[key])
        if key in _PATH_KEYS and worktree is not None:
            path = Path(detail)
            if path.is_absolute() and path.is_relative_to(worktree):
                detail = str(path.relative_to(worktree)) or "."
    return shorten(f"{name} {detail}".strip(), _EVENT_LIMIT)


def spoken_summary(text: str | None, agent: str, turns: int) -> str:
    """The first sentence of the final answer (markdown dropped, ≤200 chars), or a fallback."""
    plain = " ".join(re.sub(r"[`*#]+", "", text or "").split())
    if not plain:
        return f"{agent} finished in {turns} turn{'' if turns == 1 else 's'}."
    first = re.split(r"(?<=[.!?])\s", plain, maxsplit=1)[0]
    if len(first) > SUMMARY_LIMIT:
        first = first[: SUMMARY_LIMIT - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return first


def result_failure(message: ResultMessage) -> str | None:
    """Why a session's result is a failure, in one line, or None when it succeeded."""
    if not message.is_error and message.subtype == "success":
        return None
    details = "; ".join(message.errors or []) or (message.result or "").strip()
    if message.subtype == "error_max_turns":
        return f"Claude Code stopped after {message.num_turns} turns (the max_turns limit)"
    if message.subtype == "error_max_budget_usd":
        return "Claude Code stopped at its budget (the max_budget_usd limit)"
    status = f" (HTTP {message.api_error_status})" if message.api_error_status else ""
    return shorten(f"Claude Code failed{status}: {details or message.subtype}", 300)


class CodingLog:
    """Collects one session's stream: events out as they come, the log and result kept."""

    def __init__(self, agent: str, emit: EventSink, worktree: Path) -> None:
        """Report through `emit`; paths in events are shown relative to `worktree`."""
        self.agent = agent
        self.emit = emit
        self.worktree = worktree
        self.lines: list[str] = []
        self.session_id: str | None = None
        self.texts: list[str] = []
        self.result: ResultMessage | None = None

    def _log(self, kind: str, text: str) -> None:
        """Add one entry to the readable log."""
        self.lines.append(f"[{kind}] {shorten(text, _LOG_ENTRY_LIMIT)}")

    def _session(self, session_id: str | None) -> None:
        """Note the session id, reporting it the first time it is seen."""
        if session_id and session_id != self.session_id:
            self.session_id = session_id
            self.emit("session", session_id)

    def take(self, message: Message) -> None:
        """Handle one message from the session; AgentError for a failed result."""
        if isinstance(message, AssistantMessage):
            self._assistant(message)
        elif isinstance(message, UserMessage):
            self._user(message)
        elif isinstance(message, SystemMessage):
            self._system(message)
        elif isinstance(message, ResultMessage):
            self._result(message)

    def _assistant(self, message: AssistantMessage) -> None:
        """Text and tool calls: reported and logged."""
        self._session(message.session_id)
        for block in message.content:
            if isinstance(block, TextBlock) and block.text.strip():
                self.texts.append(block.text)
                self.emit("text", block.text)
                self._log("assistant", block.text)
            elif isinstance(block, ToolUseBlock):
                self.emit("tool", describe_tool(block.name, block.input, self.worktree))
                self._log("tool", f"{block.name} {json.dumps(block.input, ensure_ascii=False)}")
            elif isinstance(block, ThinkingBlock) and block.thinking.strip():
                self._log("thinking", block.thinking)

    def _user(self, message: UserMessage) -> None:
        """Tool results: logged."""
        if isinstance(message.content, str):
            self._log("user", message.content)
            return
        for block in message.content:
            if isinstance(block, ToolResultBlock):
                content = block.content
                text = content if isinstance(content, str) else json.dumps(content)
                self._log("tool error" if block.is_error else "tool result", text or "")

    def _system(self, message: SystemMessage) -> None:
        """The init frame gives the session id; the CLI's own permission denials are reported."""
        data = message.data
        if message.subtype == "init":
            self._session(str(data.get("session_id") or "") or None)
            self._log("system", f"session {self.session_id} model {data.get('model')} "
                                f"in {data.get('cwd')} ({data.get('permissionMode')})")
        elif message.subtype == "permission_denied":
            reason = str(data.get("message") or f"{data.get('tool_name')} was not permitted")
            self.emit("denied", shorten(reason, 300))
            self._log("denied", reason)
        else:
            self._log("system", message.subtype)

    def _result(self, message: ResultMessage) -> None:
        """The end of the turn: cost reported; a failed result raises AgentError."""
        self.result = message
        self._session(message.session_id)
        cost = message.total_cost_usd
        if cost is not None:
            self.emit("cost", f"${cost:.4f} ({message.num_turns} turns)")
        self._log("result", f"{message.subtype}, {message.num_turns} turns, "
                            f"{message.duration_ms} ms, cost {cost}")
        failure = result_failure(message)
        if failure is not None:
            raise AgentError(failure)

    def log(self) -> str:
        """The whole readable log."""
        return "\n".join(self.lines)

    def job_result(self) -> JobResult:
        """The finished job; AgentError if the session never reached a result."""
        if self.result is None:
            raise AgentError("Claude Code stopped before finishing the job")
        final = self.result.result or (self.texts[-1] if self.texts else None)
        return JobResult(
            summary=spoken_summary(final, self.agent, self.result.num_turns),
            log=self.log(),
            session_id=self.session_id,
            worktree=self.worktree,
            cost_usd=self.result.total_cost_usd,
        )
