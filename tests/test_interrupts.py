"""A Ctrl-C is never lost (``yanex.interrupts``): one that Python drops where it ignores exceptions
(a finalizer, a weakref callback) is noted, said nowhere, and taken by the batch loop as its first
Ctrl-C; a library error raised on the way out of one is the Ctrl-C's, not a failure to report."""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Iterator

import pytest

from yanex import interrupts
from yanex.runner.batch import _Events
from yanex.supervisor.executor import StopReason


@pytest.fixture
def noted(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``interrupts.install()`` as the CLI does, undone after the test."""
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupts.install()
    interrupts.take()
    yield
    signal.signal(signal.SIGINT, previous)
    interrupts.take()


class _SignalledWhenCollected:
    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # raised here, where Python ignores exceptions


def test_a_ctrl_c_python_drops_in_a_finalizer_is_taken_by_the_batch_loop(
    noted: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _SignalledWhenCollected()
    gc.collect()
    assert capsys.readouterr().err == ""  # no "Exception ignored in ... KeyboardInterrupt"
    events = _Events()
    with events.signals():
        assert events.next(0) is StopReason.USER
    assert not interrupts.take()  # taken once


def test_without_a_dropped_ctrl_c_the_batch_loop_gets_nothing(noted: None) -> None:
    events = _Events()
    with events.signals():
        assert events.next(0) is None
        os.kill(os.getpid(), signal.SIGINT)  # now an event, never a KeyboardInterrupt
        assert events.next(1) is StopReason.USER


def test_an_error_raised_while_a_ctrl_c_unwinds_is_the_ctrl_c_s() -> None:
    try:
        try:
            raise KeyboardInterrupt
        finally:
            raise RuntimeError("Can't reconnect until invalid transaction is rolled back")
    except RuntimeError as error:
        assert interrupts.caused(error)
    assert not interrupts.caused(RuntimeError("a failure of its own"))
