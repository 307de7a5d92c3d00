"""A user's backward function checked on a small random problem: what ``gradscope verify --target`` runs.

:func:`load_backward` imports the function the user names, ``module:function`` (a module on the path
or in the current folder) or ``path/to/file.py:function``: it runs the user's own code, as pytest
runs a test file the user points it at. Nothing is ever run from a data file.
:func:`check_target` draws parameters under the user's names and in the user's layout (PyTorch's
``U(-1/sqrt(H), 1/sqrt(H))``), inputs, targets and an initial state, and runs
:func:`~gradscope.testing.diagnose_bptt` with the function as ``grads``, so it is also rerun on prefixes.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gradscope.analysis.document import json_number
from gradscope.compile.cache import compile_cell
from gradscope.errors import ConfigError
from gradscope.params.arrays import check_choice, check_count, check_size
from gradscope.testing.check import diagnose_bptt
from gradscope.testing.diagnosis import BPTTDiagnosis
from gradscope.testing.names import assign_roles
from gradscope.testing.user_backward import BackwardFunction

#: Schema of the document ``gradscope verify --target ... --json`` writes.
TARGET_SCHEMA = "gradscope.check_bptt/1"
#: The parameter names drawn when none are given: PyTorch's, and an output layer.
DEFAULT_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_out", "bias_out")
#: What the random inputs are: rows of floats, or class indices (one-hot, as character models take them).
INPUT_KINDS = ("vectors", "indices")


def load_backward(target: str) -> BackwardFunction:
    """The function ``target`` names (``module:function`` or ``file.py:function``), imported.

    Every error names ``--target`` and is a :class:`~gradscope.errors.ConfigError` (one line, exit 2).
    """
    module_name, sep, attribute = target.rpartition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"--target: expected module:function or path/to/file.py:function, got {target!r}")
    try:
        if module_name.endswith(".py") or "/" in module_name:
            path = Path(module_name)
            if not path.is_file():
                raise ConfigError(f"--target: no such file {module_name!r}")
            sys.path.insert(0, str(path.resolve().parent))  # its own imports of neighbouring files, as pytest does
            spec = importlib.util.spec_from_file_location(path.stem, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))
            module = importlib.import_module(module_name)
    except ConfigError:
        raise
    except Exception as error:  # the user's module failed to import: say so on one line
        raise ConfigError(f"--target: importing {module_name!r} raised {type(error).__name__}: {error}") from error
    function = getattr(module, attribute, None)
    if function is None:
        found = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))[:8]
        raise ConfigError(f"--target: {module_name!r} has no {attribute!r} (callables there: {', '.join(found)})")
    if not callable(function):
        raise ConfigError(f"--target: {target!r} is a {type(function).__name__}, not a function")
    return function


@dataclass(frozen=True)
class TargetCheck:
    """A check of the user's function: the settings of the random problem and the diagnosis."""

    target: str
    settings: dict[str, Any]
    diagnosis: BPTTDiagnosis

    def to_dict(self) -> dict[str, Any]:
        """The ``gradscope.check_bptt/1`` document."""
        from gradscope._version import __version__

        settings = {k: (json_number(v) if isinstance(v, float) else v) for k, v in self.settings.items()}
        return {
            "schema": TARGET_SCHEMA,
            "gradscope_version": __version__,
            "target": self.target,
            "settings": settings,
        } | self.diagnosis.to_dict()


def check_target(
    function: BackwardFunction,
    cell: str,
    *,
    target: str = "",
    names: Sequence[str] = DEFAULT_NAMES,
    layout: str = "auto",
    gates: str | None = None,
    concat: str = "hx",
    loss: str = "softmax_ce",
    reduce: str = "sum",
    hidden_size: int = 3,
    input_size: int = 4,
    output_size: int | None = None,
    steps: int = 5,
    inputs: str = "vectors",
    seed: int = 0,
) -> TargetCheck:
    """Run ``function(params, inputs, targets, h0[, c0])`` on a random problem and diagnose its gradients.

    Args:
        function: the user's backward (see :mod:`gradscope.testing.user_backward`).
        cell, names, layout, gates, concat: the cell and how the function names and lays out its
            parameters (see :func:`~gradscope.testing.from_arrays`).
        loss, reduce: the loss the function differentiates.
        hidden_size, input_size, output_size, steps: sizes (O defaults to I, as for a character model).
        inputs: ``"vectors"`` (``(T, I)`` floats; ``(T, I, 1)`` columns with ``layout="column"``) or
            ``"indices"`` (T class indices).
        seed: seeds every draw.
    """
    spec = compile_cell(cell).spec
    check_choice("inputs", inputs, INPUT_KINDS)
    H, I, T = check_size("hidden_size", hidden_size), check_size("input_size", input_size), check_size("steps", steps)
    O = I if output_size is None else check_size("output_size", output_size)
    rng = np.random.default_rng(check_count("seed", seed))
    column = layout == "column"
    params = random_arrays(spec.name, names, H, I, O, layout, rng)
    if inputs == "indices":
        xs: Any = [int(k) for k in rng.integers(0, I, T)]
    else:
        xs = rng.standard_normal((T, I, 1) if column else (T, I))
    size = O if any(r.kind == "weight_out" for r in assign_roles(spec, names).values()) else H
    last = reduce == "last"
    if loss == "softmax_ce":
        targets: Any = int(rng.integers(0, size)) if last else [int(k) for k in rng.integers(0, size, T)]
    else:
        targets = rng.standard_normal(size if last else (T, size))
    vector = (H, 1) if column else (H,)
    states = {"h0": rng.uniform(-0.5, 0.5, vector)}
    if "c" in spec.state:
        states["c0"] = rng.uniform(-0.5, 0.5, vector)
    diagnosis = diagnose_bptt(
        spec.name,
        params,
        function,
        xs,
        targets=targets,
        loss=loss,
        reduce=reduce,
        layout=layout,
        gates=gates,
        concat=concat,
        **states,
    )
    settings = {
        "cell": spec.name,
        "params": list(names),
        "layout": layout,
        "gates": "".join(gates) if gates else "".join(spec.gates),
        "concat": concat,
        "loss": loss,
        "reduce": reduce,
        "hidden_size": H,
        "input_size": I,
        "output_size": O,
        "steps": T,
        "inputs": inputs,
        "seed": seed,
    }
    return TargetCheck(target, settings, diagnosis)


def random_arrays(
    cell: str, names: Sequence[str], hidden: int, width: int, output: int, layout: str, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Parameters under ``names`` in their roles' shapes (``x @ W`` transposed for ``layout="row"``; biases as
    ``(n, 1)`` columns for ``layout="column"``), drawn from ``U(-1/sqrt(H), 1/sqrt(H))``."""
    spec = compile_cell(cell).spec
    roles = assign_roles(spec, names)
    bound = 1.0 / np.sqrt(hidden)
    out = {}
    for name, role in roles.items():
        rows = hidden if role.gate is not None else spec.num_gates * hidden
        shape: tuple[int, ...] = {
            "weight_ih": (rows, width),
            "weight_hh": (rows, hidden),
            "weight_cat": (rows, hidden + width),
            "weight_out": (output, hidden),
            "bias_out": (output,),
        }.get(role.kind, (rows,))
        if len(shape) == 2 and layout == "row":
            shape = shape[::-1]
        elif len(shape) == 1 and layout == "column":
            shape = (shape[0], 1)
        out[name] = rng.uniform(-bound, bound, shape)
    return out
