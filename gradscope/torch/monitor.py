"""``GradientFlowMonitor``: the gradient's reach through time, measured while a PyTorch model trains.

Every ``every`` steps the monitor copies the recurrent module's parameters (a few arrays, on the training
thread) and hands them to a worker process (:mod:`gradscope.torch.worker`), which analyses them on fixed
inputs exactly as ``gradscope analyze --weights`` would and appends one line to a JSON Lines log that
``gradscope training LOG.jsonl`` reads. With a TensorBoard ``SummaryWriter`` (``writer=``) or an active W&B
run, the rate, the e-folding lag and the reach are logged as scalars as results come back, and the figure
of the whole run when the monitor closes.

A monitor never breaks the training loop: whatever goes wrong (the worker dies, an analysis fails, a logger
raises) it warns once and stops measuring, and :meth:`step` keeps returning at once. When the worker falls
behind, snapshots beyond ``max_pending`` are skipped (counted in :attr:`skipped`), never waited for.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gradscope.analysis.loss_gradient import loss_gradient
from gradscope.errors import ConfigError
from gradscope.files import check_output_path
from gradscope.studies.executors import BLAS_THREAD_VARIABLES
from gradscope.studies.training import TrainingSeries, reach
from gradscope.torch.worker import HEAD_KEYS, encode, snapshot_loss, snapshot_problem, stop_frame

#: The built-in cell of each PyTorch recurrent module.
_CELLS = {torch.nn.LSTM: "lstm", torch.nn.GRU: "gru"}
#: Scalars logged to TensorBoard / W&B for each entry, by tag.
SCALARS = ("rate_per_step", "efolding_lag", "reach")


class MonitorWarning(RuntimeWarning):
    """The monitor stopped measuring (training goes on); shown once per monitor."""


def find_recurrent(module: torch.nn.Module, prefix: str | None = None) -> tuple[torch.nn.RNNBase, str]:
    """``(recurrent module, its prefix)``: ``module`` itself when it is an ``nn.RNN``/``nn.LSTM``/``nn.GRU``, the
    submodule named by ``prefix`` (``"encoder.rnn."``), or the only recurrent submodule."""
    if isinstance(module, torch.nn.RNNBase) and prefix in (None, ""):
        return module, ""
    found = {f"{name}.": sub for name, sub in module.named_modules() if isinstance(sub, torch.nn.RNNBase) and name}
    if prefix is not None:
        if prefix not in found:
            listed = ", ".join(repr(p) for p in found) or "none"
            raise ConfigError(f"prefix {prefix!r}: no nn.RNN, nn.LSTM or nn.GRU there (recurrent modules: {listed})")
        return found[prefix], prefix
    if len(found) != 1:
        listed = ", ".join(repr(p) for p in found) or "none"
        raise ConfigError(f"module: expected exactly one nn.RNN, nn.LSTM or nn.GRU, found {listed}; give prefix=")
    ((name, sub),) = found.items()
    return sub, name


def cell_of(rnn: torch.nn.RNNBase) -> str:
    """The gradscope cell of a PyTorch recurrent module (``nn.RNN`` by its nonlinearity)."""
    for kind, cell in _CELLS.items():
        if isinstance(rnn, kind):
            return cell
    return "rnn-relu" if getattr(rnn, "nonlinearity", "tanh") == "relu" else "rnn"


def one_sequence(values: Any, name: str, batch_first: bool) -> np.ndarray | None:
    """``values`` as one float64 sequence ``(T, I)`` (or state ``(.., H)``): a tensor or array; a batch
    ``(T, B, I)`` (``(B, T, I)`` with ``batch_first``) gives its first sequence."""
    if values is None:
        return None
    array = values.detach().cpu().double().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    array = np.asarray(array, dtype=np.float64)
    if name == "inputs" and array.ndim == 3:
        array = array[0] if batch_first else array[:, 0]
    if name == "inputs" and array.ndim != 2:
        raise ConfigError(f"inputs: expected shape (T, input_size) or a batch of them, got {array.shape}")
    return array.copy()


class GradientFlowMonitor:
    """Snapshots a training model's recurrent module every ``every`` steps and measures its gradient flow.

    Args:
        module: an ``nn.RNN``/``nn.LSTM``/``nn.GRU``, or a model holding one (chosen by ``prefix`` when several).
        inputs: the probe sequence every snapshot is analysed on, ``(T, input_size)`` (a batch: its first
            sequence), a tensor or an array; keep it fixed so that the profiles compare.
        every: snapshot when ``global_step % every == 0``.
        log: the JSON Lines file the entries are appended to (``gradscope training LOG``).
        prefix: the recurrent submodule's name with a trailing dot (``"encoder.rnn."``).
        h0, c0: initial states ``(H,)`` (default zeros).
        norm, dtype: as for ``gradscope analyze``.
        writer: a TensorBoard ``SummaryWriter`` (anything with ``add_scalar`` and ``add_figure``), or None.
        wandb: ``"auto"``: log to the active W&B run, if the script imported ``wandb`` and started one; ``False``: not.
        max_pending: snapshots waiting for the worker beyond which new ones are skipped (``None``: never skip).
        loss, reduce, targets: also follow this loss's gradient ``||dL/dh_{T-k}||`` back through time (the BPTT
            checker's losses: ``"softmax_ce"``, ``"mse"``, ``"sse"``, ``"half_sse"``; ``reduce`` ``"last"``,
            ``"sum"`` or ``"mean"``; the targets of the probe sequence).
        head: the ``nn.Linear`` output layer the loss reads (its weights are snapshotted too), or None (the loss
            reads ``h_t``).
    """

    def __init__(
        self,
        module: torch.nn.Module,
        inputs: Any,
        *,
        every: int = 100,
        log: str | Path = "gradient_flow.jsonl",
        prefix: str | None = None,
        h0: Any = None,
        c0: Any = None,
        norm: str = "spectral",
        dtype: str = "float64",
        writer: Any = None,
        wandb: str | bool = "auto",
        max_pending: int | None = 4,
        loss: str | None = None,
        reduce: str = "last",
        targets: Any = None,
        head: torch.nn.Linear | None = None,
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError(f"every must be a positive integer, got {every!r}")
        self.rnn, self.prefix = find_recurrent(module, prefix)
        self.cell = cell_of(self.rnn)
        batch_first = bool(getattr(self.rnn, "batch_first", False))
        log_path = Path(log)
        if not log_path.is_file():
            check_output_path(log_path)
        self.setup: dict[str, Any] = {"cell": self.cell, "norm": norm, "dtype": dtype}
        self.setup["inputs"] = one_sequence(inputs, "inputs", batch_first)
        for name, value in (("h0", h0), ("c0", c0)):
            if value is not None:
                self.setup[name] = one_sequence(value, name, batch_first)
        if loss is None and (targets is not None or head is not None):
            raise ConfigError("targets and head describe a loss: give loss too (softmax_ce, mse, sse or half_sse)")
        if loss is not None:
            if targets is None:
                raise ConfigError(f"loss {loss!r}: give its targets")
            if head is not None and not isinstance(head, torch.nn.Linear):
                raise ConfigError(f"head: expected an nn.Linear output layer, got {type(head).__name__}")
            goals = targets.detach().cpu().numpy() if isinstance(targets, torch.Tensor) else np.asarray(targets)
            self.setup |= {"loss": loss, "reduce": reduce, "targets": goals}
        self.head = head
        first = self._snapshot()
        self.problem = snapshot_problem(self.setup, {k: v for k, v in first.items() if k not in HEAD_KEYS})
        if loss is not None:  # every mistake shows here, before training
            loss_gradient(self.problem, snapshot_loss(self.setup, first))
        self.every = every
        self.log = log_path
        self.writer = writer
        self.wandb = _active_wandb() if wandb in ("auto", True) else None
        self.records: list[dict[str, Any]] = []
        self.skipped = 0
        self.failure: str | None = None
        self._count = -1
        self._closed = False
        self._outbox: queue.Queue[tuple[int, dict[str, np.ndarray]] | None] = queue.Queue(maxsize=max_pending or 0)
        self._inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "gradscope.torch.worker", str(log_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_worker_environment(),
        )
        self._sender = threading.Thread(target=self._send, name="gradscope-monitor-send", daemon=True)
        self._reader = threading.Thread(target=self._read, name="gradscope-monitor-read", daemon=True)
        self._sender.start()
        self._reader.start()

    # -- the threads that talk to the worker ----------------------------------------------------

    def _send(self) -> None:
        """The setup, then each snapshot as it comes (the pipe's writes never block the training thread)."""
        stream = self._process.stdin
        assert stream is not None
        try:
            stream.write(encode(self.setup))
            stream.flush()
            while (item := self._outbox.get()) is not None:
                step, params = item
                stream.write(encode({"__step__": step, **params}))
                stream.flush()
            stream.write(stop_frame())
            stream.close()
        except (OSError, ValueError):  # the worker is gone: the reader reports it
            pass

    def _read(self) -> None:
        stream = self._process.stdout
        assert stream is not None
        for line in stream:
            try:
                self._inbox.put(json.loads(line))
            except ValueError:
                self._inbox.put({"kind": "error", "message": f"unreadable reply {line[:80]!r}"})
        self._inbox.put({"kind": "end"})

    # -- the training side ----------------------------------------------------------------------

    def step(self, global_step: int | None = None) -> None:
        """Call once per training step (or let :meth:`attach` do it); snapshots every ``every`` steps.

        ``global_step`` defaults to a counter of the calls, from 0. Never raises, never waits for the worker.
        """
        try:
            self._count += 1
            current = self._count if global_step is None else int(global_step)
            if self.failure is not None or self._closed:
                return
            self._collect()
            if current % self.every:
                return
            if self._process.poll() is not None:
                self._fail(f"the worker process stopped (exit code {self._process.returncode})")
                return
            try:
                self._outbox.put_nowait((current, self._snapshot()))
            except queue.Full:
                self.skipped += 1
        except Exception as error:  # never into the training loop
            self._fail(f"{type(error).__name__}: {error}")

    def attach(self, optimizer: torch.optim.Optimizer) -> Any:
        """Call :meth:`step` after every ``optimizer.step()``; returns the hook's handle (``.remove()`` detaches)."""
        return optimizer.register_step_post_hook(lambda *_: self.step())

    def _snapshot(self) -> dict[str, np.ndarray]:
        """The recurrent module's parameters under PyTorch's names (and the output layer's under
        :data:`~gradscope.torch.worker.HEAD_KEYS`), copied to float64 NumPy arrays."""
        with torch.no_grad():
            params = {name: _copied(p) for name, p in self.rnn.named_parameters()}
            if self.head is not None:
                params[HEAD_KEYS[0]] = _copied(self.head.weight)
                if self.head.bias is not None:
                    params[HEAD_KEYS[1]] = _copied(self.head.bias)
            return params

    # -- results --------------------------------------------------------------------------------

    def _collect(self, wait: float | None = None) -> bool:
        """Take what the worker has sent back and log it: without waiting, or (``wait`` seconds per message)
        until the worker's output ends. Returns whether it ended."""
        while True:
            try:
                message = self._inbox.get(timeout=wait) if wait is not None else self._inbox.get_nowait()
            except queue.Empty:
                return False
            if message.get("kind") == "end":
                return True
            if message.get("kind") == "error":
                self._fail(f"the analysis failed: {message.get('message')}")
                continue
            self.records.append(message["record"])
            self._log_scalars(message["record"])

    def _log_scalars(self, record: Mapping[str, Any]) -> None:
        values = {
            "rate_per_step": record["rate_per_step"],
            "efolding_lag": record["efolding_lag"],
            "reach": reach(record["rate_per_step"] if record["rate_per_step"] is not None else -float("inf"),
                           record["steps"]),
        }  # fmt: skip
        values = {k: v for k, v in values.items() if v is not None}
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(f"gradscope/{name}", value, record["step"])
        if self.wandb is not None:
            self.wandb.log({f"gradscope/{k}": v for k, v in values.items()} | {"gradscope/step": record["step"]})

    def series(self) -> TrainingSeries | None:
        """The entries received so far as a :class:`~gradscope.studies.training.TrainingSeries` (None if none)."""
        if not self.records:
            return None
        return TrainingSeries.from_records([(f"{self.log}", record) for record in self.records])

    def close(self, timeout: float = 120.0) -> None:
        """Let the worker finish the pending snapshots (at most ``timeout`` seconds), stop it, and log the figure
        of the run. Never raises."""
        if self._closed:
            return
        self._closed = True
        try:
            try:
                self._outbox.put(None, timeout=timeout)
            except queue.Full:
                self._process.kill()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._reader.join(timeout)
            self._collect(wait=1.0)
            if self.failure is None:
                self._log_figure()
        except Exception as error:
            self._fail(f"{type(error).__name__}: {error}")

    def _log_figure(self) -> None:
        series = self.series()
        if series is None or (self.writer is None and self.wandb is None):
            return
        from gradscope import figures

        figure = figures.training_figure(series)
        if self.writer is not None:
            self.writer.add_figure("gradscope/gradient_flow", figure, global_step=int(series.steps[-1]))
        if self.wandb is not None:
            self.wandb.log({"gradscope/gradient_flow": self.wandb.Image(figure)})

    def _fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
            warnings.warn(
                f"gradscope: GradientFlowMonitor stopped measuring ({reason}); training goes on",
                MonitorWarning,
                stacklevel=3,
            )
        if self._process.poll() is None:
            self._process.kill()

    def __enter__(self) -> GradientFlowMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        process = getattr(self, "_process", None)
        if process is not None and process.poll() is None:
            process.kill()


def _copied(tensor: torch.Tensor) -> np.ndarray:
    """A float64 NumPy copy of a parameter, on the CPU."""
    return tensor.detach().to("cpu", torch.float64, copy=True).numpy()


def _active_wandb() -> Any:
    """The ``wandb`` module when the training script imported it and a run is active, else None (never imported
    here: a script that logs to W&B has imported it already)."""
    wandb = sys.modules.get("wandb")
    return wandb if wandb is not None and getattr(wandb, "run", None) is not None else None


def _worker_environment() -> dict[str, str]:
    """The worker's environment: this gradscope first on the path, and one BLAS thread (it shares the cores with
    the training loop) unless the user set the thread count."""
    environment = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    environment["PYTHONPATH"] = os.pathsep.join(p for p in (root, environment.get("PYTHONPATH")) if p)
    for name in BLAS_THREAD_VARIABLES:
        environment.setdefault(name, "1")
    return environment
