"""schemathesis against the live server's /openapi.json: no generated request gets a 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from serve_helpers import running_server, serve_settings

from voicedesk.stt.whisper import WhisperTranscriber

pytestmark = pytest.mark.model
TOKEN = "schema-token"
EXAMPLES = 40
"""Generated cases per operation and mode (valid, invalid): enough to find a 500, quick in CI."""


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_input_gets_a_server_error(
    tmp_path: Path, transcriber: WhisperTranscriber, mode: GenerationMode
) -> None:
    """Every operation in /openapi.json, with generated input, answers below 500."""
    config = serve_settings(
        tmp_path, serve={"token": TOKEN, "rate_limit_per_minute": 100_000, "rate_burst": 10_000}
    )
    with running_server(config, transcriber) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 9, [op.label for op in operations]
        operations = [op for op in operations if op.path != "/events"]  # endless: test_api's
        for operation in operations:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None,
                      suppress_health_check=list(HealthCheck), database=None)
            def check(case: schemathesis.Case) -> None:
                """One generated request."""
                response = case.call(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
                case.validate_response(response, checks=[not_a_server_error])

            try:
                check()
            except Unsatisfiable:  # nothing to make invalid (an operation with no inputs)
                assert mode == GenerationMode.NEGATIVE, operation.label
