"""The files of a training run: checkpoints named by paths, globs or directories, in training order, and
the JSON Lines logs a live monitor writes.

Order by training step (default): a checkpoint's step is its ``step`` (or ``global_step``) entry when it
holds one as an array or tensor, else the last integer in its file name (``ckpt_2000.pt`` -> 2000).
``order="name"`` sorts by file name (numbers inside names compared as numbers), ``order="mtime"`` by
modification time; steps are then taken as above where found, else the checkpoint's position (0, 1, ...).
Checkpoints are read with :func:`~gradscope.files.checkpoints.load_state_dict` (never executing code).
"""

from __future__ import annotations

import glob
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gradscope.errors import CheckpointError, ConfigError
from gradscope.files.arrays import FileError
from gradscope.files.checkpoints import FORMATS, load_state_dict

#: A live monitor's log: one JSON object per line.
LOG_SUFFIX = ".jsonl"
ORDERS = ("step", "name", "mtime")
#: The entries of a checkpoint that may hold its training step.
STEP_KEYS = ("step", "global_step")
_INTEGER = re.compile(r"\d+")
#: Recurrent weights whose row count is G * H: the cell each gate count G means (nn.RNN, nn.GRU, nn.LSTM).
_CELL_OF_GATES = {1: "rnn", 3: "gru", 4: "lstm"}


@dataclass(frozen=True)
class RunFile:
    """One checkpoint (or monitor log) of a run, with its training step and where the step came from."""

    path: Path
    step: int
    step_source: str  # "entry", "name" or "position"

    @property
    def is_log(self) -> bool:
        return self.path.suffix.lower() == LOG_SUFFIX


def expand_paths(patterns: Sequence[str]) -> list[Path]:
    """Every file the arguments name: a path, a glob (``runs/ckpt_*.pt``) or a directory (its checkpoints and
    logs, not recursively); each once, in the order given. A pattern that names nothing is an error."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file() and _is_run_file(p))
            if not inside:
                raise FileError(f"{path}: directory holds no checkpoints ({', '.join(FORMATS)}) or {LOG_SUFFIX} logs")
            found |= dict.fromkeys(inside)
        elif glob.has_magic(pattern):
            matched = sorted(Path(p) for p in glob.glob(pattern))
            if not matched:
                raise FileError(f"{pattern}: no file matches")
            found |= dict.fromkeys(p for p in matched if not p.is_dir())
        else:
            if not path.exists():
                raise FileError(f"{path}: no such file")
            found[path] = None
    if not found:
        raise FileError("no checkpoints given")
    return list(found)


def _is_run_file(path: Path) -> bool:
    return path.suffix.lower() in (*FORMATS, LOG_SUFFIX)


def step_from_name(path: Path) -> int | None:
    """The last integer in the file's name without its extension (``ckpt_0400.pt`` -> 400), if any."""
    numbers = _INTEGER.findall(path.stem)
    return int(numbers[-1]) if numbers else None


def step_entry(state: dict[str, np.ndarray], path: Path) -> int | None:
    """The ``step`` / ``global_step`` entry of a loaded checkpoint, when it holds one (a scalar integer)."""
    for key in STEP_KEYS:
        if key in state:
            value = np.asarray(state[key])
            if value.size != 1 or not np.isfinite(value).all() or float(value.reshape(())) != int(value.reshape(())):
                raise CheckpointError(f"{path}: entry {key!r}: expected one integer step, got shape {value.shape}")
            return int(value.reshape(()))
    return None


def infer_cell(path: Path, prefix: str | None = None) -> str:
    """The built-in cell a checkpoint's recurrent weights fit: ``weight_hh_l0`` of shape ``(G*H, H)`` with
    G = 1 (``rnn``, tanh), 3 (``gru``) or 4 (``lstm``)."""
    state = load_state_dict(path) if path.suffix.lower() != LOG_SUFFIX else {}
    keys = [k for k in state if k.endswith("weight_hh_l0") and (prefix is None or k == f"{prefix}weight_hh_l0")]
    if len(keys) != 1:
        raise ConfigError(f"{path}: cannot tell the cell from its weights; give --cell (rnn, lstm, gru, ...)")
    rows, columns = np.shape(state[keys[0]])[:2] if np.ndim(state[keys[0]]) == 2 else (0, 0)
    gates = rows // columns if columns and rows % columns == 0 else 0
    if gates not in _CELL_OF_GATES:
        raise ConfigError(f"{path}: {keys[0]} has shape {np.shape(state[keys[0]])}; give --cell")
    return _CELL_OF_GATES[gates]


def _natural_key(path: Path) -> tuple[Any, ...]:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name))


def order_run(paths: Sequence[Path], order: str = "step") -> list[RunFile]:
    """The checkpoints of ``paths`` in training order, each with its step (logs keep step 0: their entries
    carry their own steps).

    Raises:
        ConfigError: an unknown ``order``; with ``order="step"``, a checkpoint without a step (neither an entry
            nor an integer in its name) or two checkpoints with the same step.
    """
    if order not in ORDERS:
        raise ConfigError(f"--order: expected one of {', '.join(ORDERS)}, got {order!r}")
    checkpoints = [path for path in paths if path.suffix.lower() != LOG_SUFFIX]
    logs = [RunFile(path, 0, "monitor") for path in paths if path.suffix.lower() == LOG_SUFFIX]
    found: list[tuple[Path, int | None, str]] = []
    for path in checkpoints:
        entry = step_entry(load_state_dict(path), path)
        if entry is not None:
            found.append((path, entry, "entry"))
        else:
            named = step_from_name(path)
            found.append((path, named, "name" if named is not None else "position"))
    if order == "step":
        missing = [str(path) for path, step, _ in found if step is None]
        if missing:
            raise ConfigError(
                f"{missing[0]}: no training step (no 'step' entry, no integer in the name); order with --order name "
                "or --order mtime"
            )
        found.sort(key=lambda item: item[1])  # type: ignore[arg-type, return-value]
        for (first, a, _), (second, b, _) in itertools.pairwise(found):
            if a == b:
                raise ConfigError(
                    f"{first} and {second} have the same training step {a}; order with --order name|mtime"
                )
    else:
        key = _natural_key if order == "name" else (lambda path: path.stat().st_mtime_ns)
        found.sort(key=lambda item: key(item[0]))  # type: ignore[operator]
    ordered = [
        RunFile(path, step if step is not None else position, source)
        for position, (path, step, source) in enumerate(found)
    ]
    return ordered + logs


def read_json_lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` of every non-blank line of a JSON Lines file (strict JSON: no NaN)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise FileError(f"{path}: cannot read ({error})") from error

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_constant=refuse)
        except ValueError as error:
            raise FileError(f"{path}:{number}: not a JSON object ({error})") from error
        if not isinstance(record, dict):
            raise FileError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        records.append((number, record))
    if not records:
        raise FileError(f"{path}: the log holds no entries")
    return records


def load_output_layer(path: Path, prefix: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``(weight (O, H), bias (O,) or None)`` of the linear output layer ``prefix`` (``"head."``) in a checkpoint."""
    state = load_state_dict(path)
    weight = state.get(f"{prefix}weight")
    if weight is None:
        heads = sorted(k.removesuffix("weight") for k in state if k.endswith("weight") and np.ndim(state[k]) == 2)
        listed = ", ".join(repr(h) for h in heads) or "none"
        raise CheckpointError(
            f"{path}: no output layer {prefix!r} (no key {prefix}weight; 2-D weights under: {listed})"
        )
    return np.asarray(weight, dtype=np.float64), state.get(f"{prefix}bias")
