"""The Anthropic API from settings: the key, sync and async clients, the fallback switch, cost."""

from __future__ import annotations

import os
from typing import Protocol

import anthropic

from voicedesk.config import LlmSettings
from voicedesk.errors import LlmError

API_KEY_ENV = "ANTHROPIC_API_KEY"
"""The environment variable holding the Anthropic API key."""

MISSING_KEY = f"no Anthropic API key: set {API_KEY_ENV}"
"""The one-line reason given when an LLM feature is used without a key."""

CACHE_WRITE_FACTOR = 1.25
"""Cache-creation input tokens cost this many times a plain input token."""

CACHE_READ_FACTOR = 0.1
"""Cache-read input tokens cost this many times a plain input token."""


class TokenUsage(Protocol):
    """Token counts of one API answer (`anthropic.types.Usage` fits)."""

    @property
    def input_tokens(self) -> int:
        """Plain input tokens."""
        ...

    @property
    def output_tokens(self) -> int:
        """Output tokens."""
        ...


def api_key() -> str | None:
    """The Anthropic API key from the environment; None when unset or blank."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    return key or None


def _require_key() -> str:
    """The API key, or an LlmError naming the variable to set."""
    key = api_key()
    if key is None:
        raise LlmError(MISSING_KEY)
    return key


def async_client(llm: LlmSettings) -> anthropic.AsyncAnthropic:
    """An async client: the configured base URL (else ANTHROPIC_BASE_URL), timeout, retries."""
    return anthropic.AsyncAnthropic(
        api_key=_require_key(),
        base_url=llm.base_url,
        timeout=llm.timeout_s,
        max_retries=llm.max_retries,
    )


def sync_client(llm: LlmSettings) -> anthropic.Anthropic:
    """A sync client: the configured base URL (else ANTHROPIC_BASE_URL), timeout, retries."""
    return anthropic.Anthropic(
        api_key=_require_key(),
        base_url=llm.base_url,
        timeout=llm.timeout_s,
        max_retries=llm.max_retries,
    )


def fallback_enabled(llm: LlmSettings) -> bool:
    """Whether the LLM intent fallback runs: auto means "when a key is set"."""
    if llm.intent_fallback == "auto":
        return api_key() is not None
    return llm.intent_fallback == "on"


def cost_usd(usage: TokenUsage, llm: LlmSettings) -> float:
    """What one answer cost in US dollars at the configured per-million-token prices."""
    cache_write = getattr(usage, "cache_creation_input_tokens", None) or 0
    cache_read = getattr(usage, "cache_read_input_tokens", None) or 0
    input_tokens = (
        usage.input_tokens + CACHE_WRITE_FACTOR * cache_write + CACHE_READ_FACTOR * cache_read
    )
    return (
        input_tokens * llm.input_usd_per_mtok + usage.output_tokens * llm.output_usd_per_mtok
    ) / 1_000_000


def describe_api_error(exc: anthropic.APIError, llm: LlmSettings) -> str:
    """One line saying what went wrong talking to the Anthropic API."""
    if isinstance(exc, anthropic.APITimeoutError):
        return f"the Anthropic API did not answer within {llm.timeout_s:g} s"
    if isinstance(exc, anthropic.APIStatusError):
        return f"the Anthropic API answered {exc.status_code}: {status_message(exc)}"
    if isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__ or exc
        return f"cannot reach the Anthropic API: {one_line(str(cause)) or type(cause).__name__}"
    return f"the Anthropic API gave an unusable answer: {one_line(str(exc))}"


def status_message(exc: anthropic.APIStatusError) -> str:
    """The error message from an API error body, else the client's message, on one line."""
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return one_line(error["message"])
    return one_line(exc.message)


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace to single spaces and cap the length."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
