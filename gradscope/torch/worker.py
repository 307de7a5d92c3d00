"""The monitor's worker process: analyses parameter snapshots off the training thread and appends them to the log.

Run as ``python -m gradscope.torch.worker LOG`` by :class:`~gradscope.torch.GradientFlowMonitor` (a plain
subprocess, so the training script is never re-imported, whether or not it has an ``if __name__ ==
"__main__"`` guard). It imports neither torch nor matplotlib.

The protocol, on the worker's stdin: frames of an 8-byte little-endian length and that many bytes of an
``.npz`` archive (read with ``allow_pickle=False``: nothing is ever unpickled). The first frame is the setup
(``cell``, ``norm``, ``dtype`` as 0-d strings, ``inputs`` ``(T, I)``, optional ``h0``/``c0``, and for the loss's
gradient ``loss``, ``reduce`` and ``targets``), every next one a snapshot (``__step__``, the parameters under
PyTorch's names and, with a loss, the output layer's ``__head_weight__``/``__head_bias__``); a frame of length 0
stops the worker. Each snapshot is analysed exactly as ``gradscope analyze --weights`` would (the problem of
those parameters on the setup's inputs, :func:`~gradscope.studies.training.analyze_checkpoint`), appended to the
log as one JSON line (:meth:`~gradscope.studies.training.TrainingEntry.to_record`), and written to stdout as
``{"kind": "entry", "record": ...}``; a failure as ``{"kind": "error", "message": ...}``, which ends the worker.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

#: The worker yields the CPU to the training loop (a larger nice value is a lower priority).
WORKER_NICENESS = 10
_LENGTH = struct.Struct("<Q")
#: The setup's string fields and its optional arrays.
SETUP_TEXT = ("cell", "norm", "dtype")
SETUP_STATES = ("h0", "c0")
#: A snapshot's output layer, beside the recurrent parameters (for the loss's gradient).
HEAD_KEYS = ("__head_weight__", "__head_bias__")


def encode(arrays: Mapping[str, Any]) -> bytes:
    """One frame: the length and an ``.npz`` archive of ``arrays``."""
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in arrays.items()})
    payload = buffer.getvalue()
    return _LENGTH.pack(len(payload)) + payload


def stop_frame() -> bytes:
    return _LENGTH.pack(0)


def read_frame(stream: IO[bytes]) -> dict[str, np.ndarray] | None:
    """The arrays of the next frame, or None at a stop frame or the end of the stream."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(header)
    if length == 0:
        return None
    payload = stream.read(length)
    if len(payload) < length:
        return None
    with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def snapshot_problem(setup: Mapping[str, Any], params: Mapping[str, np.ndarray]) -> Any:
    """The problem of one snapshot: its parameters on the monitor's inputs (as ``analyze --weights`` makes it)."""
    from gradscope.analysis.problem import make_problem

    states = {name: setup.get(name) for name in SETUP_STATES}
    return make_problem(
        str(setup["cell"]), params=dict(params), inputs=setup["inputs"], norm=str(setup["norm"]),
        dtype=str(setup["dtype"]), **states,
    )  # fmt: skip


def snapshot_loss(setup: Mapping[str, Any], head: Mapping[str, np.ndarray]) -> Any:
    """The setup's loss (``loss``, ``reduce``, ``targets``) read through the snapshot's output layer, or None."""
    from gradscope.analysis.loss_gradient import LossSpec

    if "loss" not in setup:
        return None
    weight, bias = (head.get(key) for key in HEAD_KEYS)
    return LossSpec(str(setup["loss"]), str(setup["reduce"]), setup["targets"], weight, bias)


def analyse_snapshot(setup: Mapping[str, Any], step: int, params: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """One log line (a JSON object) for the snapshot of ``step`` (its output layer under :data:`HEAD_KEYS`)."""
    from gradscope.analysis.summary import Thresholds
    from gradscope.studies.training import Checkpoint, analyze_checkpoint, run_keys

    recurrent = {name: value for name, value in params.items() if name not in HEAD_KEYS}
    problem = snapshot_problem(setup, recurrent)
    loss = snapshot_loss(setup, params)
    entry = analyze_checkpoint(Checkpoint(None, step, "monitor", problem, loss), Thresholds())
    return entry.to_record(run_keys(problem))


def serve(log: Path, source: IO[bytes], sink: IO[str]) -> None:
    """Read the setup and the snapshots from ``source`` until a stop frame; one line each to ``log`` and ``sink``."""
    try:
        setup = read_frame(source)
        if setup is None:
            return
        with log.open("a", encoding="utf-8") as out:
            while (frame := read_frame(source)) is not None:
                step = int(frame.pop("__step__"))
                record = analyse_snapshot(setup, step, frame)
                out.write(json.dumps(record, allow_nan=False) + "\n")
                out.flush()
                sink.write(json.dumps({"kind": "entry", "record": record}, allow_nan=False) + "\n")
                sink.flush()
    except Exception as error:  # reported to the training side, which warns once
        sink.write(json.dumps({"kind": "error", "message": f"{type(error).__name__}: {error}"}) + "\n")
        sink.flush()


def main() -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.nice(WORKER_NICENESS)
    serve(Path(sys.argv[1]), sys.stdin.buffer, sys.stdout)


if __name__ == "__main__":
    main()
