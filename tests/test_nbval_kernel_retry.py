"""The notebook runs retry a kernel that fails to start, and only that."""

from __future__ import annotations

import nbval_kernel_retry as retry
import pytest


def test_a_kernel_that_fails_to_start_once_is_started_again(monkeypatch):
    calls = []

    def flaky(*args, **kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise RuntimeError("Kernel didn't respond in 60 seconds")
        return "manager", "client"

    monkeypatch.setattr(retry, "_start_new_kernel", flaky)
    assert retry._start_with_retries(startup_timeout=60) == ("manager", "client")
    assert len(calls) == 2


def test_a_kernel_that_never_starts_fails_after_three_tries(monkeypatch):
    calls = []

    def dead(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("Kernel didn't respond in 60 seconds")

    monkeypatch.setattr(retry, "_start_new_kernel", dead)
    with pytest.raises(RuntimeError, match="didn't respond"):
        retry._start_with_retries()
    assert len(calls) == 3
