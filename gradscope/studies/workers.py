"""The local worker processes' life: their environment at start, their signals, and how they are stopped.

:class:`~gradscope.studies.executors.LocalExecutor` starts its workers with :func:`worker_started` and, when
its run is left by an exception (an interruption), stops them with :func:`stop_workers`: no process is left
behind, not even when the parent is killed outright.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any


@contextlib.contextmanager
def child_environment(variables: dict[str, str]) -> Iterator[None]:
    """Set ``variables`` in ``os.environ`` (so in the environment of processes started meanwhile), then restore."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


#: How often a worker checks that its parent still lives (seconds).
PARENT_POLL_S = 0.2

#: The signals a worker ignores (:func:`worker_started`); blocked from its first instruction until then.
WORKER_IGNORED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_held_while_workers_start() -> Iterator[None]:
    """Hold ``SIGINT`` and ``SIGTERM`` back while this thread starts worker processes; deliver them after.

    Two windows are closed. A worker inherits the signal mask of the thread that starts it and spends its
    first half second importing, before :func:`worker_started` can ignore anything: blocked, a Ctrl-C to the
    process group waits in the worker, which drops it once it ignores it (the standard library starts its
    resource tracker the same way), instead of dying of a ``KeyboardInterrupt`` traceback on the shared
    stderr. And this process, interrupted halfway through starting a worker (spawned, but not yet sent
    what to run), would leave it to die of an ``EOFError`` traceback: in the main thread a handler notes
    the signals meanwhile (the kernel may hand a blocked one to another thread), and each is raised, as it
    would have come, once the block is done. Nothing is lost: a signal is either noted or still pending.
    """
    arrived: list[int] = []

    def note(number: int, _frame: object) -> None:
        arrived.append(number)

    previous_mask: set[int] | None = None
    previous: dict[int, Any] = {}
    try:  # set up inside: a signal that came just before may be raised here, and all of it is undone then
        if hasattr(signal, "pthread_sigmask"):  # not on Windows (which has no process groups to signal either)
            previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, WORKER_IGNORED_SIGNALS)
        if threading.current_thread() is threading.main_thread():  # handlers can only be set there
            for number in WORKER_IGNORED_SIGNALS:
                previous[number] = signal.getsignal(number)  # recorded before it is replaced
                signal.signal(number, note)
        yield
    finally:
        # Unmasked first, with `note` still in place: a pending signal is noted, not raised halfway through.
        _restore(previous_mask, list(previous.items()))
        for number in dict.fromkeys(arrived):
            signal.raise_signal(number)


def _restore(mask: set[int] | None, handlers: list[tuple[int, Any]]) -> None:
    """Restore the signal ``mask`` (if any), then each of ``handlers``: every one of them, even if a signal
    arriving in between raises from a handler already restored."""
    try:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            mask = None
        if handlers:
            number, handler = handlers[-1]
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
            handlers.pop()  # only once restored (restoring twice does no harm)
    finally:
        if mask is not None or handlers:
            _restore(mask, handlers)


def worker_started(parent: int | None = None) -> None:
    """The local workers' initializer: ignore ``SIGINT`` and ``SIGTERM``, and exit when the parent process is gone.

    A Ctrl-C reaches every process of the terminal's process group, and a service manager's ``SIGTERM``
    often does too; the parent alone decides (it stops the workers itself, :func:`stop_workers`), so a
    worker that dies first cannot turn an interruption into a broken pool. A parent killed outright
    (``SIGKILL``) cannot stop them: a daemon thread notices that the parent changed (the orphan is adopted
    by another process) and ends the worker.

    ``parent``: the pid the worker was started by, where that is known (``spawn``: the executor's process; a
    ``forkserver`` worker's parent is the server, read here). A parent killed while the worker was still
    importing has handed it to another process before this runs, so the pid is passed in, not read.
    """
    for number in WORKER_IGNORED_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # blocked since the worker started: what arrived meanwhile is dropped
        signal.pthread_sigmask(signal.SIG_UNBLOCK, WORKER_IGNORED_SIGNALS)
    if parent is None:
        parent = os.getppid()
    elif os.getppid() != parent:
        os._exit(1)  # orphaned before it started

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)  # the parent is gone: nobody reads this worker's results

    threading.Thread(target=watch, name="gradscope-parent-watch", daemon=True).start()


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: kill the workers (``SIGKILL``: they ignore the others), then cancel what has not started.

    ``ProcessPoolExecutor.shutdown`` alone waits for the running tasks to finish, which can take minutes; the
    workers hold nothing but results nobody reads any more, so nothing is lost by killing them.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.kill()
    for process in processes:
        process.join(5.0)
    pool.shutdown(wait=True, cancel_futures=True)
