"""Files in and out of the command line: safe array loading, validation, atomic writes, JSON.

Arrays are read with ``allow_pickle=False`` only: a file can never run code, and one that holds
Python objects is refused. Every error names the file (and the array inside it), derives from
:class:`~gradscope.errors.GradscopeError` and so becomes one clean line and exit code 2 at the
command line. Output files are written to a temporary file in the target's directory and moved
into place with :func:`os.replace`, so a failure never leaves a partial or empty file behind.

Nothing here prints; SymPy, matplotlib and torch are never imported.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gradscope._version import __version__
from gradscope.cells.spec import CellSpec
from gradscope.engine.depth import is_stacked, validate_stacked
from gradscope.errors import ConfigError, GradscopeError, ParameterError, ShapeError
from gradscope.files.checkpoints import load_state_dict, select_recurrent
from gradscope.params.layer import as_float_array, validate_params
from gradscope.params.readout import validate_feedback_params

if TYPE_CHECKING:
    from gradscope.analysis.analyze import Analysis
    from gradscope.analysis.ensemble import Ensemble
    from gradscope.testing.verification import Verification

#: Schema of the document ``gradscope compare --json`` writes.
COMPARISON_SCHEMA = "gradscope.comparison/1"
#: Schema of the document ``gradscope compare --samples N --json`` writes.
ENSEMBLE_COMPARISON_SCHEMA = "gradscope.ensemble-comparison/1"
#: Schema of the document ``gradscope verify --json`` writes.
VERIFY_SCHEMA = "gradscope.verify/1"

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK"  # local file header PK\x03\x04, or PK\x05\x06 for an empty archive
#: dtype kinds accepted as numbers: float, signed and unsigned integers.
_NUMERIC_KINDS = "fiu"


class FileError(GradscopeError, ValueError):
    """A file named on the command line is missing, unreadable, of the wrong kind or not writable."""


# ---------------------------------------------------------------------------------------------
# Reading


@contextlib.contextmanager
def about_file(path: Path | str) -> Iterator[None]:
    """Prefix the message of any :class:`GradscopeError` raised inside with ``"<path>: "``.

    The exception keeps its type (``ShapeError`` stays a ``ShapeError``), so callers can still tell
    kinds of bad input apart.
    """
    try:
        yield
    except FileError:
        raise
    except GradscopeError as error:
        raise type(error)(f"{path}: {error}") from error


def _read_magic(path: Path) -> bytes:
    """The first bytes of ``path``, or a :class:`FileError` saying why it cannot be read."""
    if not path.exists():
        raise FileError(f"{path}: no such file")
    if path.is_dir():
        raise FileError(f"{path}: is a directory, not a file")
    try:
        with path.open("rb") as handle:
            return handle.read(len(_NPY_MAGIC))
    except OSError as error:
        raise FileError(f"{path}: cannot read ({error.strerror or error})") from error


def _checked_array(path: Path, name: str, array: np.ndarray) -> np.ndarray:
    """``array`` as finite float64, with errors naming the file and the array."""
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise ParameterError(f"{path}: {name}: expected a numeric array, got dtype {array.dtype}")
    with about_file(path):
        return as_float_array(name, array)


def _load_error(path: Path, error: Exception) -> FileError:
    text = str(error)
    if "allow_pickle" in text or "pickle" in text.lower():
        return FileError(f"{path}: holds pickled Python objects; refused (arrays are loaded with allow_pickle=False)")
    return FileError(f"{path}: cannot be read as a NumPy file ({text})")


def load_npz(path: Path | str) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive (``np.savez`` output), by name, as finite float64.

    Raises:
        FileError: missing, unreadable, not an ``.npz`` archive, or holding Python objects.
        ParameterError, NonFiniteError: a non-numeric array, or NaN/inf (the message names it).
    """
    path = Path(path)
    magic = _read_magic(path)
    if magic.startswith(_NPY_MAGIC):
        raise FileError(f"{path}: is a single .npy array, not an .npz archive (save the state_dict with np.savez)")
    if not magic.startswith(_ZIP_MAGIC) or not zipfile.is_zipfile(path):
        raise FileError(f"{path}: not an .npz archive (save the state_dict with np.savez)")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as archive:
            for name in archive.files:
                arrays[name] = _checked_array(path, name, archive[name])
    except GradscopeError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise _load_error(path, error) from error
    if not arrays:
        raise FileError(f"{path}: the archive holds no arrays")
    return arrays


def load_npy(path: Path | str, name: str) -> np.ndarray:
    """The array of a ``.npy`` file as finite float64; ``name`` (e.g. ``"inputs"``) goes into errors.

    Raises:
        FileError: missing, unreadable, not a ``.npy`` file (an ``.npz`` archive is refused too),
            or holding Python objects.
        ParameterError, NonFiniteError: non-numeric values, NaN or inf.
    """
    path = Path(path)
    magic = _read_magic(path)
    if magic.startswith(_ZIP_MAGIC):
        raise FileError(f"{path}: is an .npz archive; {name} must be a single .npy array (np.save)")
    if not magic.startswith(_NPY_MAGIC):
        raise FileError(f"{path}: not a NumPy .npy file ({name} must be saved with np.save)")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise _load_error(path, error) from error
    return _checked_array(path, name, array)


@dataclass(frozen=True)
class LoadedWeights:
    """A recurrent module's validated parameters from a checkpoint, under PyTorch's own names."""

    params: dict[str, np.ndarray]
    hidden_size: int
    input_size: int
    num_layers: int = 1
    bidirectional: bool = False
    #: O, for a cell that feeds its output back (Jordan); else None.
    output_size: int | None = None


def load_weights(path: Path | str, spec: CellSpec, prefix: str | None = None) -> LoadedWeights:
    """Parameters of ``spec``'s cell from a checkpoint: ``.npz``, ``.pt``/``.pth`` or ``.safetensors``.

    An ``.npz`` is what ``np.savez(f, **{k: v.numpy() for k, v in model.state_dict().items()})``
    writes; ``.pt``/``.pth`` are read with ``torch.load(weights_only=True)`` (see
    :mod:`gradscope.files.checkpoints`). The recurrent module is chosen by ``prefix`` (e.g.
    ``"encoder.rnn."``) or found automatically when it is the only one. Names, shapes and values
    are checked (``num_layers`` and ``bidirectional`` come from the names); every error is
    prefixed with the file.
    """
    path = Path(path)
    torch_or_safetensors = path.suffix.lower() in (".pt", ".pth", ".safetensors")
    state = load_state_dict(path) if torch_or_safetensors else load_npz(path)
    with about_file(path):
        selected = select_recurrent(state, prefix)
        if spec.feedback:
            feedback = validate_feedback_params(spec, selected)
            return LoadedWeights(
                feedback.as_dict(), feedback.hidden_size, feedback.input_size, output_size=feedback.output_size
            )
        if is_stacked(selected):
            stacked = validate_stacked(spec, selected)
            first = stacked.layers[0][0]
            return LoadedWeights(
                selected, first.hidden_size, first.input_size, stacked.num_layers, stacked.bidirectional
            )
        checked = validate_params(spec, selected)
        return LoadedWeights(checked.as_dict(), checked.hidden_size, checked.input_size)


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

    params: Mapping[str, np.ndarray] | None = None
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
        loaded = load_weights(weights, spec, prefix)
        params = loaded.params
        sources["params"] = str(weights)
        width, hidden = loaded.input_size, loaded.hidden_size
        width_from = hidden_from = output_from = f"the weights {weights}"
        output = loaded.output_size
        layers = loaded.num_layers * (2 if loaded.bidirectional else 1)

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


# ---------------------------------------------------------------------------------------------
# Writing


def check_output_path(path: Path | str) -> Path:
    """``path`` if a file can be created there, else a :class:`FileError` naming it.

    Called before any work, so that a bad ``--json`` path fails fast and writes nothing.
    """
    path = Path(path)
    parent = path.parent
    if path.is_dir():
        raise FileError(f"{path}: is a directory; give a file name to write to")
    if not parent.exists():
        raise FileError(f"{path}: cannot write: directory {parent} does not exist")
    if not parent.is_dir():
        raise FileError(f"{path}: cannot write: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FileError(f"{path}: cannot write: no permission to create files in {parent}")
    return path


def check_output_dir(path: Path | str) -> Path:
    """``path`` if it is, or can be created as, a directory to write files into; else a :class:`FileError`.

    Called before any work (``gradscope report --out DIR``), so that a bad folder fails fast. Missing
    folders are fine when the nearest existing ancestor is a writable directory (they are created
    when the files are written).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileError(f"{path}: is not a directory; give a folder to write the files into")
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise FileError(f"{path}: cannot create the folder: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise FileError(f"{path}: cannot write: no permission to create files in {existing}")
    return path


def _new_file_mode(path: Path) -> int:
    """Permissions for the new file: those of the file it replaces, else the umask's default."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_text_atomic(path: Path | str, text: str) -> Path:
    """Write ``text`` (UTF-8, line ends as given) to ``path`` atomically: all of it, or nothing at all.

    See :func:`write_bytes_atomic`, which does the writing.
    """
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: all of it, or nothing at all (e.g. a rendered figure).

    The bytes go to a temporary file in the same directory, are flushed to disk and then
    :func:`os.replace` moves it over ``path``. On any failure the temporary file is removed and
    ``path`` is left as it was. The new file gets the permissions of the file it replaces, else the
    umask's default.

    Raises:
        FileError: ``path`` cannot be written (missing directory, a directory, no permission, disk full).
    """
    path = check_output_path(path)
    mode = _new_file_mode(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise FileError(f"{path}: cannot write ({error.strerror or error})") from error
        raise
    return path


def to_json(document: Mapping[str, Any]) -> str:
    """Strict JSON text (no ``NaN``/``Infinity``), indented, ending in a newline."""
    try:
        return json.dumps(document, indent=2, allow_nan=False) + "\n"
    except ValueError as error:  # a non-finite float slipped through: a bug, not bad input
        raise RuntimeError(f"document is not valid JSON: {error}") from error


def comparison_document(analyses: Sequence[Analysis]) -> dict[str, Any]:
    """The ``gradscope.comparison/1`` document: one ``gradscope.analysis/1`` document per cell."""
    return {
        "schema": COMPARISON_SCHEMA,
        "gradscope_version": __version__,
        "cells": [analysis.cell for analysis in analyses],
        "analyses": [analysis.to_dict() for analysis in analyses],
    }


def ensemble_comparison_document(ensembles: Sequence[Ensemble]) -> dict[str, Any]:
    """The ``gradscope.ensemble-comparison/1`` document: one ``gradscope.ensemble/1`` document per cell."""
    return {
        "schema": ENSEMBLE_COMPARISON_SCHEMA,
        "gradscope_version": __version__,
        "cells": [ensemble.cell for ensemble in ensembles],
        "ensembles": [ensemble.to_dict() for ensemble in ensembles],
    }


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def verification_document(verification: Verification) -> dict[str, Any]:
    """The ``gradscope.verify/1`` document: settings, PyTorch version, overall result and one entry per check.

    Errors that are not finite (a NaN or an infinite relative error) are ``null``; their check has failed.
    """
    return {
        "schema": VERIFY_SCHEMA,
        "gradscope_version": __version__,
        "passed": verification.passed,
        "torch_version": verification.torch_version,
        "settings": dict(verification.settings),
        "checks": len(verification.rows),
        "failures": len(verification.failures),
        "rows": [
            {
                "cell": row.cell,
                "check": row.check,
                "against": row.against,
                "max_abs_err": _finite_or_none(row.max_abs_err),
                "max_rel_err": _finite_or_none(row.max_rel_err),
                "tolerance": row.tolerance,
                "passed": bool(row.passed),
            }
            for row in verification.rows
        ],
    }


__all__ = [
    "COMPARISON_SCHEMA",
    "ENSEMBLE_COMPARISON_SCHEMA",
    "VERIFY_SCHEMA",
    "FileError",
    "ProblemFiles",
    "about_file",
    "check_output_dir",
    "check_output_path",
    "comparison_document",
    "ensemble_comparison_document",
    "load_inputs",
    "load_npy",
    "load_npz",
    "load_problem_files",
    "load_state",
    "load_weights",
    "to_json",
    "verification_document",
    "write_bytes_atomic",
    "write_text_atomic",
]
