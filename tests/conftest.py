"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES_DIR = Path(__file__).parent / "fixtures"
"""The committed audio fixtures that scripts/make_fixtures.sh writes."""


@pytest.fixture
def fixtures_dir() -> Path:
    """The directory of committed audio fixtures."""
    return FIXTURES_DIR
