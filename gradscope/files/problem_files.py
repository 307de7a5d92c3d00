"""The data files of a command: weights, inputs and initial states, loaded and cross-checked once.

Sizes come from the shapes: the weights fix H and the input size, and the other files must match
them; every error names the file, the expected shape and where that shape comes from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gradscope.cells.spec import CellSpec
from gradscope.errors import ConfigError, ShapeError
from gradscope.files.arrays import about_file, load_npy, load_npz
from gradscope.files.checkpoints import load_state_dict, select_recurrent
from gradscope.params.network import NetworkParams, validate_params


def load_weights(path: Path | str, spec: CellSpec, prefix: str | None = None) -> NetworkParams:
    """Parameters of ``spec``'s cell from a checkpoint: ``.npz``, ``.pt``/``.pth`` or ``.safetensors``.

    An ``.npz`` is what ``np.savez(f, **{k: v.numpy() for k, v in model.state_dict().items()})``
    writes; ``.pt``/``.pth`` are read with ``torch.load(weights_only=True)`` (see
    :mod:`gradscope.files.checkpoints`). The recurrent module is chosen by ``prefix`` (e.g.
    ``"encoder.rnn."``) or found automatically when it is the only one. Names, shapes and values
    are checked, once (``num_layers`` and ``bidirectional`` come from the names); every error is
    prefixed with the file.
    """
    path = Path(path)
    torch_or_safetensors = path.suffix.lower() in (".pt", ".pth", ".safetensors")
    state = load_state_dict(path) if torch_or_safetensors else load_npz(path)
    with about_file(path):
        return validate_params(spec, select_recurrent(state, prefix))


def load_inputs(path: Path | str, input_size: int | None, source: str = "") -> np.ndarray:
    """The input sequence ``(T, input_size)`` from a ``.npy`` file.

    Args:
        input_size: the width the inputs must have, or None to accept any width.
        source: where ``input_size`` comes from, for the error message (e.g. ``"the weights"``).
    """
    path = Path(path)
    array = load_npy(path, "inputs")
    expected = f"(T, {input_size})" if input_size is not None else "(T, input_size)"
    origin = f", input_size {input_size} from {source}" if source and input_size is not None else ""
    if array.ndim != 2 or (input_size is not None and array.shape[1] != input_size):
        raise ShapeError(f"{path}: inputs: expected shape {expected}{origin}, got {array.shape}")
    if array.shape[0] < 1:
        raise ShapeError(f"{path}: inputs: need at least one time step, got shape {array.shape}")
    return array


def load_state(path: Path | str, name: str, hidden_size: int | None, source: str = "", layers: int = 1) -> np.ndarray:
    """An initial state component (``h0``, ``c0``, or the Jordan cell's ``y0``) ``(H,)`` from a ``.npy`` file.

    ``hidden_size`` is the component's expected length (O for ``y0``).

    PyTorch's shapes for one layer and one sequence, ``(1, H)`` and ``(1, 1, H)``, are accepted too.
    For ``layers = num_layers * directions > 1`` the state is ``(layers, H)`` (or PyTorch's
    ``(layers, 1, H)``).
    """
    path = Path(path)
    array = load_npy(path, name)
    if layers > 1:
        matrix = array.reshape(layers, -1) if array.shape in ((layers, hidden_size), (layers, 1, hidden_size)) else None
        if matrix is None:
            raise ShapeError(
                f"{path}: {name}: expected shape ({layers}, {hidden_size}) (num_layers * directions, H), "
                f"got {array.shape}"
            )
        return matrix
    vector = array.reshape(-1) if array.ndim >= 1 and all(n == 1 for n in array.shape[:-1]) else None
    size_ok = vector is not None and (hidden_size is None or vector.size == hidden_size)
    if vector is None or vector.size == 0 or not size_ok:
        expected = f"({hidden_size},)" if hidden_size is not None else "(H,)"
        origin = f", hidden_size {hidden_size} from {source}" if source and hidden_size is not None else ""
        raise ShapeError(f"{path}: {name}: expected shape {expected}{origin}, got {array.shape}")
    return vector


@dataclass(frozen=True)
class ProblemFiles:
    """What the data-file options of a command loaded, ready for :func:`gradscope.analyze`.

    ``hidden_size`` and ``input_size`` are the sizes to pass on: the explicit option, else (without
    weights, whose shapes the engine reads) the width of the inputs / the length of ``h0`` or
    ``c0``, else None (the engine's default); ``output_size`` likewise for the Jordan cell's ``y0``.
    ``sources`` maps ``"params"``, ``"inputs"``, ``"h0"``, ``"c0"`` and ``"y0"`` to the file each came from.
    """

    params: NetworkParams | None = None
    inputs: np.ndarray | None = None
    h0: np.ndarray | None = None
    c0: np.ndarray | None = None
    hidden_size: int | None = None
    input_size: int | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    y0: np.ndarray | None = None
    output_size: int | None = None


def load_problem_files(
    spec: CellSpec,
    *,
    weights: Path | None = None,
    inputs: Path | None = None,
    h0: Path | None = None,
    c0: Path | None = None,
    hidden_size: int | None = None,
    input_size: int | None = None,
    prefix: str | None = None,
    y0: Path | None = None,
    output_size: int | None = None,
) -> ProblemFiles:
    """Load and cross-check the files of ``--weights``, ``--inputs``, ``--h0``, ``--c0`` and ``--y0``.

    Sizes come from the shapes. The weights fix H and the input size, and the other files must
    match them. Without weights an explicit size option fixes the size; otherwise it is taken
    from the width of the inputs (input size) or the length of ``h0`` (then ``c0`` must match).
    A file that disagrees is reported with its name, the expected shape and where it comes from.
    Explicit size options are passed on unchanged, so the engine reports any contradiction with
    the weights.
    """
    for option, path, component in (("--h0", h0, "h"), ("--c0", c0, "c"), ("--y0", y0, "y")):
        if path is not None and component not in spec.state:
            raise ConfigError(
                f"{option} given, but the {spec.name} cell has no {component} state "
                f"(its state is s = {spec.state_layout})"
            )
    sources: dict[str, str] = {}
    params = None
    width, width_from = input_size, "--input-size"
    hidden, hidden_from = hidden_size, "--hidden-size"
    output, output_from = output_size, "--output-size"
    layers = 1
    if weights is not None:
        params = load_weights(weights, spec, prefix)
        sources["params"] = str(weights)
        width, hidden = params.input_size, params.hidden_size
        width_from = hidden_from = output_from = f"the weights {weights}"
        output = params.output_size
        layers = params.num_layers * params.num_directions

    x = None
    if inputs is not None:
        x = load_inputs(inputs, width, width_from)
        sources["inputs"] = str(inputs)
        if input_size is None and params is None:
            input_size = x.shape[1]

    states: dict[str, np.ndarray] = {}
    for name, path in (("h0", h0), ("c0", c0)):
        if path is None:
            continue
        states[name] = load_state(path, name, hidden, hidden_from, layers)
        sources[name] = str(path)
        if hidden is None:
            hidden, hidden_from = states[name].size, f"{name} {path}"
        if hidden_size is None and params is None:
            hidden_size = states[name].size
    initial_output = None
    if y0 is not None:
        initial_output = load_state(y0, "y0", output, output_from)
        sources["y0"] = str(y0)
        if output_size is None and params is None:
            output_size = initial_output.size
    return ProblemFiles(
        params, x, states.get("h0"), states.get("c0"), hidden_size, input_size, sources, initial_output, output_size
    )
