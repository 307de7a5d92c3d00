"""Interruptions of long runs: ``SIGINT`` and ``SIGTERM`` raised as exceptions, held off while a checkpoint is written.

A command that runs many tasks (``sweep``) wraps its work in :func:`interruptible`; an interruption then
unwinds the stack like an error (the executors stop their workers, the checkpoint keeps the finished
tasks) and the command exits with ``128 + signal``: 130 for ``SIGINT`` (Ctrl-C), 143 for ``SIGTERM``.
Inside :func:`held_off` (appending finished tasks to the checkpoint) a signal waits until the block is
done, so the checkpoint never holds half a line because of a signal, and the count of finished tasks the
command reports is the count the checkpoint holds.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class Terminated(BaseException):
    """``SIGTERM`` arrived (a ``BaseException``, like ``KeyboardInterrupt``: no ``except Exception`` stops it)."""


class _State:
    """How deep in :func:`held_off` the main thread is, and the signal that arrived meanwhile."""

    depth = 0
    pending: int | None = None


def _interruption(signum: int) -> BaseException:
    return Terminated(signum) if signum == signal.SIGTERM else KeyboardInterrupt()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _State.depth:
        _State.pending = signum  # raised when the block is done
        return
    raise _interruption(signum)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Within the block ``SIGTERM`` raises :class:`Terminated` and ``SIGINT`` ``KeyboardInterrupt`` in the main
    thread (``SIGINT`` only if Python's own handler is in place: an ignored ``SIGINT`` stays ignored)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread; the default applies there
        return
    numbers = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        numbers.append(signal.SIGINT)
    previous = {number: signal.signal(number, _on_signal) for number in numbers}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        _State.pending = None


@contextlib.contextmanager
def held_off() -> Iterator[None]:
    """Within the block a ``SIGINT`` or ``SIGTERM`` (under :func:`interruptible`) waits; it is raised after it."""
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
        if _State.depth == 0 and _State.pending is not None:
            signum, _State.pending = _State.pending, None
            raise _interruption(signum)


def interrupt_status(error: BaseException) -> int:
    """The exit status for an interruption: ``128 + signal`` (130 for ``KeyboardInterrupt``, 143 for ``SIGTERM``)."""
    return 128 + (signal.SIGTERM if isinstance(error, Terminated) else signal.SIGINT)
