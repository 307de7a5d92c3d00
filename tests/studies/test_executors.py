"""Executors: the same sweep rows in this process, in local worker processes and on a Dask LocalCluster.

The serial run is the reference; every other executor, worker count and chunk size must give the
identical document (same floats to the last bit), because each task's seed comes from the task.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gradscope.errors import ConfigError
from gradscope.studies.axes import parse_axes
from gradscope.studies.executors import (
    DaskExecutor,
    LocalExecutor,
    SerialExecutor,
    chunks,
    default_chunk_size,
    make_executor,
)
from gradscope.studies.sweeps import SweepSpec, SweepTask, run_chunk, run_sweep
from gradscope.studies.workers import signals_held_while_workers_start

SPEC = SweepSpec.create(
    "lstm",
    parse_axes(["gain=0.5:2:3", "forget_bias=0,chrono"]),
    samples=2,
    hidden_size=8,
    input_size=3,
    steps=40,
    exponents=2,
)


@pytest.fixture(scope="module")
def reference() -> dict:
    return run_sweep(SPEC, executor=SerialExecutor()).to_dict()


def slow_identity(items: list[float]) -> list[float]:
    """Sleeps longest on the first chunks, so that chunks finish in reverse order."""
    time.sleep(max(0.0, 0.3 - 0.1 * items[0]))
    return list(items)


def test_chunks_and_default_size() -> None:
    assert chunks(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert chunks([], 2) == []
    assert default_chunk_size(100, 2) == 13  # about 4 chunks per worker
    assert default_chunk_size(3, 8) == 1
    with pytest.raises(ConfigError):
        chunks([1], 0)


def test_serial_executor_reports_progress_per_chunk(reference: dict) -> None:
    seen: list[tuple[int, int]] = []
    result = run_sweep(SPEC, executor=SerialExecutor(chunk_size=5), progress=lambda *a: seen.append(a))
    assert result.to_dict() == reference
    assert seen == [(0, 12), (5, 12), (10, 12), (12, 12)]


def test_local_processes_give_identical_rows(reference: dict) -> None:
    seen: list[tuple[int, int]] = []
    result = run_sweep(SPEC, executor=LocalExecutor(workers=2), progress=lambda *a: seen.append(a))
    assert result.to_dict() == reference
    assert seen[0] == (0, 12) and seen[-1] == (12, 12)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert run_sweep(SPEC, executor=LocalExecutor(workers=1, chunk_size=5)).to_dict() == reference


def blas_threads_seen(items: list[float]) -> list[tuple[float, str | None]]:
    """Each item with the worker's OPENBLAS_NUM_THREADS, after :func:`slow_identity`'s delay."""
    return [(item, os.environ.get("OPENBLAS_NUM_THREADS")) for item in slow_identity(items)]


def test_local_results_are_in_task_order_and_workers_use_one_blas_thread() -> None:
    before = os.environ.get("OPENBLAS_NUM_THREADS")
    out = LocalExecutor(workers=2, chunk_size=1).map(blas_threads_seen, [0.0, 1.0, 2.0, 3.0])
    assert [item for item, _ in out] == [0.0, 1.0, 2.0, 3.0]
    assert {threads for _, threads in out} == {before or "1"}  # a value the user set is kept
    assert os.environ.get("OPENBLAS_NUM_THREADS") == before  # and this process's environment restored


def test_a_failing_task_is_a_row_with_its_error_and_a_raising_chunk_reaches_the_caller() -> None:
    bad = [SweepTask(0, (("init", "he"),), 0, 1)]  # bypasses the spec's validation
    (row,) = LocalExecutor(workers=1).map(lambda_free_chunk, bad)
    assert "unknown init 'he'" in row["error"] and row["rate_per_step"] is None and row["seed"] == 1
    with pytest.raises(ValueError, match="boom"):
        LocalExecutor(workers=1).map(raising_chunk, [1, 2])


def raising_chunk(items: list[int]) -> list[int]:
    raise ValueError("boom")


def lambda_free_chunk(tasks: list[SweepTask]) -> list[dict]:
    return run_chunk(SPEC, tasks)


def test_a_worker_orphaned_while_it_started_exits_at_once() -> None:
    # A parent killed while a spawned worker was still importing has handed it to another process before the
    # initializer runs: told its real parent, the worker exits instead of waiting forever on a dead queue.
    code = (
        "import time; from gradscope.studies.workers import worker_started; "
        f"worker_started(parent={os.getppid()}); time.sleep(30)"  # not the child's parent (that is this test)
    )
    start = time.monotonic()
    finished = subprocess.run([sys.executable, "-c", code], timeout=30)
    assert finished.returncode == 1 and time.monotonic() - start < 20
    watched = "import os, time; from gradscope.studies.workers import worker_started; worker_started(os.getppid())"
    assert subprocess.run([sys.executable, "-c", watched], timeout=30).returncode == 0  # its parent lives


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="needs POSIX signal masks")
def test_a_ctrl_c_while_a_worker_starts_is_dropped_by_the_worker() -> None:
    # The worker sends itself SIGINT and SIGTERM before its initializer ran, as a Ctrl-C to the process group
    # can while it imports: started inside the block it holds them, and drops them once it ignores them.
    code = (
        "import os, signal; from gradscope.studies.workers import worker_started\n"
        "held = signal.pthread_sigmask(signal.SIG_BLOCK, [])\n"
        "print(signal.SIGINT in held and signal.SIGTERM in held)\n"
        "os.kill(os.getpid(), signal.SIGINT); os.kill(os.getpid(), signal.SIGTERM)\n"
        "worker_started(os.getppid())\n"
        "print(signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []), 'alive')"
    )
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    with signals_held_while_workers_start():
        worker = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before
    assert (worker.returncode, worker.stdout.split(), worker.stderr) == (0, ["True", "False", "alive"], "")
    outside = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    # What the block prevents: started outside it, the worker dies of its own Ctrl-C.
    assert outside.returncode == -signal.SIGINT and outside.stderr.strip().endswith("KeyboardInterrupt")


class StoppedError(Exception):
    """Raised by the test's own SIGTERM handler."""


def test_an_interruption_while_workers_start_comes_once_they_are_started() -> None:
    # Raised halfway through starting a worker, an interruption would leave it waiting for what to run. A
    # thread started before the block does not block the signals, so the kernel hands it the process-directed
    # ones: only the block's handler keeps those from being raised at once.
    def stop(number: int, _frame: object) -> None:
        raise StoppedError(number)

    idle = threading.Event()
    threading.Thread(target=idle.wait, daemon=True).start()
    sends = [
        lambda: signal.raise_signal(signal.SIGINT),  # to this thread
        lambda: os.kill(os.getpid(), signal.SIGINT),  # to the process
        lambda: os.kill(os.getpid(), signal.SIGTERM),  # to the process, for this test's own handler
    ]
    previous = signal.signal(signal.SIGTERM, stop)
    finished = []
    try:
        for send, expected in zip(sends, [KeyboardInterrupt, KeyboardInterrupt, StoppedError], strict=True):
            with pytest.raises(expected), signals_held_while_workers_start():
                send()
                time.sleep(0.2)  # long enough for a handler to have run, had the signal not been held
                finished.append(expected)
    finally:
        signal.signal(signal.SIGTERM, previous)
        idle.set()
    assert finished == [KeyboardInterrupt, KeyboardInterrupt, StoppedError]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="needs POSIX signal masks")
def test_a_signal_raised_while_the_handlers_are_restored_leaves_everything_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As if a Ctrl-C came right after the first handler was put back, and that handler raised at once.
    before = (
        signal.pthread_sigmask(signal.SIG_BLOCK, []),
        signal.getsignal(signal.SIGINT),
        signal.getsignal(signal.SIGTERM),
    )
    real = signal.signal
    calls = []

    def restoring_then_interrupted(number: int, handler: Any) -> Any:
        old = real(number, handler)
        calls.append(number)
        if len(calls) == 3:  # two set the block's handler, the third puts the first one back
            raise KeyboardInterrupt
        return old

    with pytest.raises(KeyboardInterrupt):
        monkeypatch.setattr(signal, "signal", restoring_then_interrupted)
        with signals_held_while_workers_start():
            pass
    monkeypatch.undo()
    after = (
        signal.pthread_sigmask(signal.SIG_BLOCK, []),
        signal.getsignal(signal.SIGINT),
        signal.getsignal(signal.SIGTERM),
    )
    assert after == before


def test_make_executor_and_options() -> None:
    assert isinstance(make_executor(), LocalExecutor)
    assert make_executor(workers=3).worker_count == 3
    assert isinstance(make_executor(scheduler="tcp://127.0.0.1:1"), DaskExecutor)
    with pytest.raises(ConfigError, match="workers"):
        make_executor(scheduler="tcp://127.0.0.1:1", workers=2)
    with pytest.raises(ConfigError, match="workers"):
        LocalExecutor(workers=0)
    with pytest.raises(ConfigError, match="start method"):
        LocalExecutor(start_method="teleport")
    assert LocalExecutor().map(slow_identity, []) == []


def test_library_imports_stay_light() -> None:
    """Neither Dask nor SymPy is imported by the sweep, executor or Lyapunov modules until used."""
    code = (
        "import sys, gradscope.studies.sweeps, gradscope.studies.executors, gradscope.analysis.lyapunov_spectrum\n"
        "import gradscope.analysis.theory\n"
        "heavy = [m for m in ('dask', 'distributed', 'sympy', 'matplotlib', 'torch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    distributed = pytest.importorskip("distributed")
    # Two single-threaded workers in this process, talking TCP on loopback only; closed after the module.
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as local:
        yield local


def test_dask_local_cluster_gives_identical_rows(reference: dict, cluster: object) -> None:
    distributed = pytest.importorskip("distributed")
    seen: list[tuple[int, int]] = []
    with distributed.Client(cluster, set_as_default=False) as client:
        result = run_sweep(SPEC, executor=DaskExecutor(client), progress=lambda *a: seen.append(a))
        assert client.status == "running"  # a given client is left open
    assert result.to_dict() == reference
    assert seen[0] == (0, 12) and seen[-1] == (12, 12)
    # By address: the executor connects its own client and closes it.
    by_address = run_sweep(SPEC, executor=DaskExecutor(cluster.scheduler_address, chunk_size=5))
    assert by_address.to_dict() == reference
    assert DaskExecutor(cluster.scheduler_address, chunk_size=1).map(slow_identity, [0.0, 1.0, 2.0]) == [0.0, 1.0, 2.0]


def test_dask_runs_only_the_unfinished_tasks_and_hands_each_chunk_back(reference: dict, cluster: object) -> None:
    tasks = SPEC.tasks()
    finished = {task.key: row for task, row in zip(tasks, reference["rows"], strict=True) if task.sample == 0}
    recorded: list[str] = []
    resumed = run_sweep(
        SPEC,
        executor=DaskExecutor(cluster.scheduler_address, chunk_size=2),
        finished=finished,
        record=lambda pairs: recorded.extend(key for key, _ in pairs),
    )
    assert resumed.to_dict() == reference
    assert sorted(recorded) == sorted(task.key for task in tasks if task.sample == 1)
