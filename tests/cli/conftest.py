"""Fixtures of the CLI tests."""

from __future__ import annotations

from typing import Any

import pytest

from gradscope.studies import executors
from gradscope.studies.executors import SerialExecutor


@pytest.fixture
def serial(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run a command's studies (sweeps, checkpoints) in this process: no worker start-up. The tests that check
    real worker processes do not take it."""

    def make(*, scheduler: Any = None, workers: Any = None, chunk_size: Any = None) -> SerialExecutor:
        assert scheduler is None
        return SerialExecutor()

    monkeypatch.setattr(executors, "make_executor", make)
