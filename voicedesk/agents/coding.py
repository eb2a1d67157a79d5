"""The coding agent: Claude Code, through claude-agent-sdk, in a fresh git worktree per job.

Each job gets WORKTREES_DIR/<repo>-job-<id> on branch voicedesk/job-<id>; a follow-up resumes
the previous job's session in that same worktree. Every tool call passes the guard
(`guard.check_tool_use`) in a PreToolUse hook, whatever the permission mode; what the guard
lets through and no rule approves is asked of the user (`permissions.tool_permission`). Cancelling
the `run` coroutine interrupts the session and closes the CLI before the cancellation propagates;
a job that ends leaves no open question.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from claude_agent_sdk import (
    ClaudeAgentOptions,
    ClaudeSDKClient,
    ClaudeSDKError,
    CLIConnectionError,
    CLINotFoundError,
    HookMatcher,
    ProcessError,
)
from claude_agent_sdk.types import (
    HookCallback,
    HookContext,
    HookInput,
    HookJSONOutput,
    SettingSource,
)

from voicedesk.agents.coding_log import CodingLog
from voicedesk.agents.guard import check_tool_use
from voicedesk.agents.permissions import tool_permission
from voicedesk.agents.protocol import EventSink, JobContext, JobResult
from voicedesk.agents.questions import Questions
from voicedesk.agents.worktree import create_worktree, job_branch
from voicedesk.errors import AgentError, StoreError
from voicedesk.llm import API_KEY_ENV, api_key

CLI_ENV = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
"""Set for the Claude Code CLI: no telemetry, update checks or other side traffic."""

SETTING_SOURCES: tuple[SettingSource, ...] = ("project",)
"""Settings files Claude Code reads: the repo's own (CLAUDE.md too), never the user's."""

INTERRUPT_TIMEOUT_S = 3.0
"""How long a cancelled job waits for Claude Code to acknowledge the interrupt."""

_STDERR_LINES = 20


def require_repo(context: JobContext) -> Path:
    """The agent's configured repo, or AgentError saying how to configure one."""
    if context.settings.repo is None:
        raise AgentError(
            f"agent {context.agent} has no repo configured: set [agents.{context.agent}] repo"
        )
    return context.settings.repo.expanduser()


def require_api_key() -> None:
    """Raise AgentError unless ANTHROPIC_API_KEY is set."""
    if api_key() is None:
        raise AgentError(f"{API_KEY_ENV} is not set: the coding agent needs an Anthropic API key")


def guard_hook(worktree: Path, deny: Sequence[str], emit: EventSink) -> HookCallback:
    """A PreToolUse hook that denies (and reports) what `check_tool_use` denies."""

    async def hook(data: HookInput, tool_use_id: str | None, _: HookContext) -> HookJSONOutput:
        """Deny the tool call with the guard's reason, or have no opinion."""
        if data["hook_event_name"] != "PreToolUse":
            return {}
        reason = check_tool_use(data["tool_name"], data["tool_input"], worktree, deny)
        if reason is None:
            return {}
        emit("denied", reason)
        return {"hookSpecificOutput": {"hookEventName": "PreToolUse",
                                       "permissionDecision": "deny",
                                       "permissionDecisionReason": reason}}

    return hook


def build_options(
    context: JobContext,
    worktree: Path,
    resume: str | None,
    stderr: Callable[[str], None] | None = None,
    cli_path: Path | None = None,
) -> ClaudeAgentOptions:
    """Claude Code's options for one job: the worktree, the agent's limits, the guard hook,
    and permission prompts asked of the user (none under bypassPermissions)."""
    settings = context.settings
    env = dict(CLI_ENV)
    if context.llm.base_url:
        env["ANTHROPIC_BASE_URL"] = context.llm.base_url
    hook = guard_hook(worktree, tuple(settings.deny), context.emit)
    asks = settings.permission_mode != "bypassPermissions"
    return ClaudeAgentOptions(
        cwd=worktree,
        resume=resume,
        permission_mode=settings.permission_mode,
        allowed_tools=list(settings.allowed_tools),
        disallowed_tools=list(settings.disallowed_tools),
        max_turns=settings.max_turns,
        max_budget_usd=settings.max_budget_usd,
        model=settings.model or None,
        hooks={"PreToolUse": [HookMatcher(matcher=None, hooks=[hook], on_failure="block")]},
        can_use_tool=tool_permission(context, worktree) if asks else None,
        setting_sources=list(SETTING_SOURCES),
        env=env,
        stderr=stderr,
        cli_path=cli_path,
    )


def sdk_error(exc: Exception, stderr: Sequence[str]) -> AgentError:
    """One readable AgentError for an error from claude-agent-sdk."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    last = next((line.strip() for line in reversed(stderr) if line.strip()), "")
    if isinstance(exc, CLINotFoundError):
        return AgentError(f"the Claude Code CLI was not found: {first}")
    if isinstance(exc, ProcessError):
        code = f" with code {exc.exit_code}" if exc.exit_code is not None else ""
        return AgentError(f"Claude Code exited{code}: {last or first}")
    if isinstance(exc, CLIConnectionError):
        return AgentError(f"cannot talk to Claude Code: {first}")
    return AgentError(f"Claude Code failed: {first}")


class CodingAgent:
    """Runs coding jobs with Claude Code in a per-job git worktree."""

    def __init__(self, cli_path: Path | None = None) -> None:
        """Use the CLI bundled with claude-agent-sdk unless `cli_path` names another."""
        self.cli_path = cli_path

    async def run(self, context: JobContext) -> JobResult:
        """Do the job in its worktree; AgentError with the reason if it cannot be done."""
        repo = require_repo(context)
        require_api_key()
        worktree, resume = await self._workspace(context, repo)
        stderr: deque[str] = deque(maxlen=_STDERR_LINES)
        options = build_options(context, worktree, resume, stderr.append, self.cli_path)
        session = CodingLog(context.agent, context.emit, worktree)
        try:
            await self._converse(context, options, session, stderr)
        finally:
            with contextlib.suppress(StoreError):  # never mask how the session ended
                Questions(context.store).close_for_job(context.job.id)
        return session.job_result()

    async def _workspace(self, context: JobContext, repo: Path) -> tuple[Path, str | None]:
        """The job's worktree, and the session to resume when it follows up an earlier job."""
        follow_up = context.follow_up
        if follow_up is not None:
            if not follow_up.worktree.is_dir():
                raise AgentError(f"the worktree of job {follow_up.job_id} is gone: "
                                 f"{follow_up.worktree}")
            context.emit("note", f"worktree {follow_up.worktree}, resuming session "
                                 f"{follow_up.session_id} of job {follow_up.job_id}")
            return follow_up.worktree, follow_up.session_id
        started = time.monotonic()
        job_id = context.job.id
        worktree = await asyncio.to_thread(create_worktree, repo, context.worktrees_dir, job_id)
        context.emit("note", f"worktree {worktree} on branch {job_branch(job_id)}")
        context.emit("note", f"worktree created in {time.monotonic() - started:.2f}s")
        return worktree, None

    async def _converse(
        self,
        context: JobContext,
        options: ClaudeAgentOptions,
        session: CodingLog,
        stderr: Sequence[str],
    ) -> None:
        """Send the task and stream the session until its result; stop it when cancelled."""
        client = ClaudeSDKClient(options)
        try:
            started = time.monotonic()
            await client.connect()
            context.emit("note", f"claude code started in {time.monotonic() - started:.2f}s")
            await client.query(context.job.task)
            async for message in client.receive_response():
                session.take(message)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.interrupt(), INTERRUPT_TIMEOUT_S)
            raise
        except ClaudeSDKError as exc:
            raise sdk_error(exc, stderr) from None
        except Exception as exc:
            if type(exc) is not Exception:  # the SDK reports stream errors as bare Exceptions
                raise
            raise sdk_error(exc, stderr) from None
        finally:
            await asyncio.shield(_disconnect(client))


async def _disconnect(client: ClaudeSDKClient) -> None:
    """Close the session and the CLI process, whatever state they are in."""
    with contextlib.suppress(Exception):
        await client.disconnect()
