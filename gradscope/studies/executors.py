"""Where a batch of independent tasks runs: in this process, in local processes, or on a Dask cluster.

An executor maps a *chunk function* over a list of tasks. The function takes a list of tasks and
returns one result per task, in order; executors cut the tasks into contiguous chunks, run the
chunks wherever they run, and put the results back in task order. So the results never depend on
the executor, the number of workers or the order in which chunks finish, as long as each task's
result depends only on the task (the sweep derives every random seed from the task itself) and
the BLAS runs on the same number of threads (see :class:`LocalExecutor`; its workers and Dask's
use one).

Chunks amortise what a worker pays once per call: unpickling the function and its arguments, and,
for user-defined cells, the SymPy derivation (cached per process; built-in cells use shipped
generated code and never import SymPy). By default a run is cut into about
:data:`CHUNKS_PER_WORKER` chunks per worker, enough to balance the load and to move a progress bar.

* :class:`SerialExecutor`: this process, no pool (tests, debugging, tiny sweeps).
* :class:`LocalExecutor`: a :class:`concurrent.futures.ProcessPoolExecutor` over all cores (the default).
* :class:`DaskExecutor`: a Dask ``distributed`` cluster, by scheduler address or an existing
  ``Client`` (extra ``gradscope[dask]``; imported only when it runs). The workers need gradscope
  installed, at the same version.

The chunk function must be picklable (a module-level function, or a :func:`functools.partial` of one).

Interruptions: ``collect(chunk, results)`` is called in this process as each chunk finishes (in the order
they finish), so a caller can keep finished results (a sweep's checkpoint) before the run ends. When
:meth:`map` is left by an exception (``KeyboardInterrupt``, a signal turned into an exception, a failed
chunk), the work still running is stopped: local workers are killed and Dask futures cancelled. Local
workers ignore ``SIGINT`` and ``SIGTERM`` (the parent decides: a Ctrl-C reaches the whole process group)
and exit by themselves when their parent dies (``SIGKILL``), so no process is left behind.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from gradscope.errors import ConfigError
from gradscope.studies.workers import (
    child_environment,
    signals_held_while_workers_start,
    stop_workers,
    worker_started,
)

if TYPE_CHECKING:
    from distributed import Client

T = TypeVar("T")
R = TypeVar("R")

#: ``progress(tasks_done, tasks_total)``.
Progress = Callable[[int, int], None]
#: A chunk function: a list of tasks in, one result per task out, in order.
ChunkFunction = Callable[[list[T]], list[R]]
#: ``collect(chunk, results)``: one finished chunk's tasks and their results, as soon as it is finished.
Collect = Callable[[list[Any], list[Any]], None]

#: Default number of chunks per worker.
CHUNKS_PER_WORKER = 4
#: Default seconds to reach a Dask scheduler given by address.
CONNECT_TIMEOUT_S = 5.0


class Executor(Protocol):
    """Anything with :meth:`map` in the sense of this module."""

    def map(
        self,
        function: ChunkFunction,
        tasks: Sequence[Any],
        *,
        progress: Progress | None = None,
        collect: Collect | None = None,
    ) -> list[Any]:
        """``function`` over ``tasks`` in chunks; the results in task order (each chunk also to ``collect``)."""
        ...


def chunks(tasks: Sequence[T], size: int) -> list[list[T]]:
    """``tasks`` cut into contiguous chunks of ``size`` (the last may be shorter)."""
    if size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {size}")
    return [list(tasks[start : start + size]) for start in range(0, len(tasks), size)]


def default_chunk_size(total: int, workers: int) -> int:
    """About :data:`CHUNKS_PER_WORKER` chunks per worker, at least one task each."""
    return max(1, math.ceil(total / (CHUNKS_PER_WORKER * max(1, workers))))


def _check_chunk(results: list[Any], chunk: list[Any]) -> list[Any]:
    if len(results) != len(chunk):
        raise RuntimeError(f"a chunk of {len(chunk)} tasks returned {len(results)} results")
    return results


def _check_positive(name: str, value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


@dataclass(frozen=True)
class SerialExecutor:
    """Runs every chunk in this process, one after the other.

    Attributes:
        chunk_size: tasks per chunk (default 1: progress after every task).
    """

    chunk_size: int = 1

    def map(
        self,
        function: ChunkFunction,
        tasks: Sequence[Any],
        *,
        progress: Progress | None = None,
        collect: Collect | None = None,
    ) -> list[Any]:
        total, results = len(tasks), []
        if progress is not None:
            progress(0, total)
        for chunk in chunks(tasks, self.chunk_size):
            done = _check_chunk(function(chunk), chunk)
            results.extend(done)
            if collect is not None:
                collect(chunk, done)
            if progress is not None:
                progress(len(results), total)
        return results


#: Environment variables that set the thread count of the BLAS and OpenMP runtimes NumPy may use.
BLAS_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


@dataclass(frozen=True)
class LocalExecutor:
    """Local worker processes (:class:`~concurrent.futures.ProcessPoolExecutor`), started for each :meth:`map`.

    Each worker's BLAS runs on one thread (``blas_threads``). Two reasons. Speed: a BLAS that starts
    as many threads as cores in every worker oversubscribes the machine, and OpenBLAS's spinning
    threads then made two workers 20x slower than one on 2 cores. Reproducibility: the BLAS thread
    count can change the last bit of a result (measured: 10 of 320 numbers of an LSTM sweep at
    H=64 differed by 1 ulp between 1 and 2 OpenBLAS threads), so a fixed count per worker makes
    the rows identical for every number of workers. Dask's nanny also starts its workers with one
    BLAS thread, so a cluster gives the same rows; an in-process run (:class:`SerialExecutor`,
    Dask with ``processes=False``) uses this process's BLAS threads and can differ in that last bit
    unless ``OPENBLAS_NUM_THREADS=1`` (or the like) was set before NumPy was imported. The count
    is set through the environment variables in :data:`BLAS_THREAD_VARIABLES` while the workers
    start (a BLAS reads them when NumPy loads); variables already set by the user are left alone.

    Attributes:
        workers: number of processes (default: all cores, ``os.cpu_count()``); never more than chunks.
        chunk_size: tasks per chunk (default :func:`default_chunk_size`).
        start_method: ``"spawn"`` (default: safe in a process that runs threads, e.g. a Dask client,
            and the same on every OS; the workers inherit the thread settings) or ``"forkserver"``.
        blas_threads: BLAS threads per worker (default 1; see above).
    """

    workers: int | None = None
    chunk_size: int | None = None
    start_method: str = "spawn"
    blas_threads: int = 1

    def __post_init__(self) -> None:
        _check_positive("workers", self.workers)
        _check_positive("chunk_size", self.chunk_size)
        _check_positive("blas_threads", self.blas_threads)
        methods = [m for m in multiprocessing.get_all_start_methods() if m != "fork"]
        if self.start_method not in methods:
            raise ConfigError(f"unknown start method {self.start_method!r} (valid here: {', '.join(methods)})")

    @property
    def worker_count(self) -> int:
        """The number of processes a large run uses."""
        return self.workers or os.cpu_count() or 1

    def map(
        self,
        function: ChunkFunction,
        tasks: Sequence[Any],
        *,
        progress: Progress | None = None,
        collect: Collect | None = None,
    ) -> list[Any]:
        total = len(tasks)
        if progress is not None:
            progress(0, total)
        if total == 0:
            return []
        parts = chunks(tasks, self.chunk_size or default_chunk_size(total, self.worker_count))
        out: list[list[Any] | None] = [None] * len(parts)
        done = 0
        workers = min(self.worker_count, len(parts))
        variables = {name: str(self.blas_threads) for name in BLAS_THREAD_VARIABLES if name not in os.environ}
        context = multiprocessing.get_context(self.start_method)
        parent = (os.getpid(),) if self.start_method == "spawn" else ()
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=worker_started, initargs=parent
        ) as pool:
            try:
                # Worker processes start inside submit() (spawn and forkserver start them on demand).
                with child_environment(variables), signals_held_while_workers_start():
                    futures = {pool.submit(function, part): index for index, part in enumerate(parts)}
                for future in as_completed(futures):
                    index = futures[future]
                    out[index] = _check_chunk(future.result(), parts[index])
                    if collect is not None:
                        collect(parts[index], out[index])
                    done += len(parts[index])
                    if progress is not None:
                        progress(done, total)
            except BaseException:
                stop_workers(pool)
                raise
        return [result for part in out if part is not None for result in part]


@dataclass(frozen=True)
class DaskExecutor:
    """Chunks as tasks on a Dask ``distributed`` cluster.

    Attributes:
        scheduler: the scheduler's address (``"tcp://host:8786"``; a client is connected for each
            :meth:`map` and closed after it) or a connected ``distributed.Client`` (left open).
        chunk_size: tasks per chunk (default :func:`default_chunk_size` over the cluster's threads).
        timeout: seconds to reach a scheduler given by address (default :data:`CONNECT_TIMEOUT_S`); an
            address that is malformed, unresolvable or unreachable in that time is a :class:`ConfigError`
            naming it.
    """

    scheduler: str | Client
    chunk_size: int | None = None
    timeout: float = CONNECT_TIMEOUT_S

    def __post_init__(self) -> None:
        _check_positive("chunk_size", self.chunk_size)
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) or not self.timeout > 0:
            raise ConfigError(f"the scheduler timeout must be a positive number of seconds, got {self.timeout!r}")
        if self.timeout == float("inf"):
            raise ConfigError("the scheduler timeout must be finite")

    def map(
        self,
        function: ChunkFunction,
        tasks: Sequence[Any],
        *,
        progress: Progress | None = None,
        collect: Collect | None = None,
    ) -> list[Any]:
        distributed = _import_distributed()
        total = len(tasks)
        if progress is not None:
            progress(0, total)
        if total == 0:
            return []
        own = isinstance(self.scheduler, str)
        client = self.connect(distributed) if own else self.scheduler
        try:
            threads = sum(client.nthreads().values()) or 1
            parts = chunks(tasks, self.chunk_size or default_chunk_size(total, threads))
            # pure=False: never merge two chunks that happen to be equal; each chunk is computed once.
            futures = client.map(function, parts, pure=False)
            index_of = {future.key: index for index, future in enumerate(futures)}
            out: list[list[Any] | None] = [None] * len(parts)
            done = 0
            try:
                for future in distributed.as_completed(futures, loop=client.loop):
                    index = index_of[future.key]
                    out[index] = _check_chunk(future.result(), parts[index])
                    if collect is not None:
                        collect(parts[index], out[index])
                    done += len(parts[index])
                    if progress is not None:
                        progress(done, total)
            finally:  # an interruption too: the cluster stops what this run no longer waits for
                client.cancel([f for f in futures if not f.done()])
            return [result for part in out if part is not None for result in part]
        finally:
            if own:
                client.close(timeout=self.timeout)

    def connect(self, distributed: Any) -> Client:
        """A client of the scheduler at :attr:`scheduler`, or a :class:`ConfigError` within :attr:`timeout`.

        The address is tried first with one plain connection (the dask configuration's security settings): a
        ``Client`` that fails to connect keeps retrying in its finaliser and prints a traceback at exit.
        """
        import asyncio

        address = str(self.scheduler)

        async def probe() -> None:
            arguments = distributed.Security().get_connection_args("client")
            comm = await distributed.comm.connect(address, timeout=self.timeout, **arguments)
            await comm.close()

        try:
            asyncio.run(asyncio.wait_for(probe(), self.timeout + 1.0))
            return distributed.Client(address, set_as_default=False, timeout=self.timeout)
        except (OSError, ValueError, TypeError, asyncio.TimeoutError) as error:
            reason = str(error).strip() or type(error).__name__
            raise ConfigError(
                f"--scheduler {address!r}: cannot reach a Dask scheduler within {self.timeout:g} s ({reason})"
            ) from error


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as error:  # pragma: no cover - the test extra installs it
        raise ConfigError("a Dask scheduler needs the 'distributed' package: pip install 'gradscope[dask]'") from error
    return distributed


def make_executor(
    *,
    scheduler: str | Client | None = None,
    workers: int | None = None,
    chunk_size: int | None = None,
    timeout: float | None = None,
) -> Executor:
    """The executor for command-line style options.

    Args:
        scheduler: a Dask scheduler address or ``Client``: a :class:`DaskExecutor`.
        workers: local processes (default all cores); ``workers=1`` without a scheduler still uses
            one worker process (so timings compare like with like); ignored with a scheduler.
        chunk_size: tasks per chunk (default: about four chunks per worker).
        timeout: seconds to reach a scheduler given by address (default :data:`CONNECT_TIMEOUT_S`).
    """
    if scheduler is not None:
        if workers is not None:
            raise ConfigError("workers applies to local processes; a Dask cluster has its own workers")
        return DaskExecutor(scheduler, chunk_size=chunk_size, timeout=CONNECT_TIMEOUT_S if timeout is None else timeout)
    return LocalExecutor(workers=workers, chunk_size=chunk_size)
