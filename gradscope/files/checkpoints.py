"""Reading model checkpoints without ever executing code from them.

* ``.npz``: ``numpy.load(allow_pickle=False)`` (what ``np.savez(f, **state_dict)`` writes);
* ``.pt`` / ``.pth``: ``torch.load(..., weights_only=True)`` when PyTorch is installed (it refuses
  anything but tensors and plain containers);
* ``.safetensors``: the ``safetensors`` package (optional extra ``gradscope[safetensors]``).

A checkpoint may hold a whole model (``encoder.rnn.weight_ih_l0``, ...) or a training state
(``{"model": state_dict, "epoch": 3}``): nested mappings are flattened with dots, and
:func:`select_recurrent` picks the recurrent module's parameters, by ``prefix`` or automatically
when exactly one module holds recurrent weights.
"""

from __future__ import annotations

import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from gradscope.errors import CheckpointError, ConfigError

#: A recurrent parameter name at the end of a state_dict key, after the module's prefix.
_RECURRENT = re.compile(
    # weight_yh, weight_hy, bias_hy: the Jordan cell's recurrent and readout parameters.
    r"^(?P<prefix>.*?)(?P<name>(?:weight_ih|weight_hh|bias_ih|bias_hh|weight_hr|weight_yh|weight_hy|bias_hy)"
    r"_l\d+(?:_reverse)?)$"
)
FORMATS = (".npz", ".pt", ".pth", ".safetensors")


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Every array in a checkpoint, keyed by its (dot-flattened) name, as NumPy arrays."""
    from gradscope.files.arrays import check_regular_file

    path = Path(path)
    check_regular_file(path, CheckpointError)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        state = _load_npz(path)
    elif suffix in (".pt", ".pth"):
        state = _load_torch(path)
    elif suffix == ".safetensors":
        state = _load_safetensors(path)
    else:
        raise CheckpointError(
            f"{path}: unknown checkpoint format {suffix or '(no extension)'!r} (use {', '.join(FORMATS)})"
        )
    if not state:
        raise CheckpointError(f"{path}: holds no arrays")
    return state


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    from gradscope.files.arrays import check_npz_sizes, is_zip

    if is_zip(path):
        check_npz_sizes(path, CheckpointError)
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not hasattr(archive, "files"):
                raise CheckpointError(f"{path}: is a single .npy array, not an .npz archive of named parameters")
            return {name: archive[name] for name in archive.files}
    except CheckpointError:
        raise
    except ValueError as error:
        if "pickle" in str(error).lower():
            raise CheckpointError(
                f"{path}: holds Python objects, which are never unpickled; save plain arrays"
            ) from error
        raise CheckpointError(f"{path}: not a valid .npz archive ({error})") from error
    except Exception as error:  # zipfile.BadZipFile, EOFError, OSError on truncated or foreign files
        raise CheckpointError(f"{path}: not a valid .npz archive (truncated or corrupt: {error})") from error


def _load_torch(path: Path) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError as error:
        raise CheckpointError(
            f"{path}: reading .pt/.pth needs PyTorch (pip install torch==2.13.0 for the CPU build); or convert it "
            "where torch is installed: python -c \"import torch, numpy as np; sd = torch.load('model.pt', "
            "weights_only=True); np.savez('model.npz', **{k: v.numpy() for k, v in sd.items()})\""
        ) from error
    _check_torch_archive(path)
    try:
        with warnings.catch_warnings():
            # torch's own deprecation notes about its storage classes (seen for quantized tensors): about
            # torch's internals, not the user's file; what matters in the file is refused below, by name.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", FutureWarning)
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError for objects, RuntimeError for truncated archives
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if "weights_only" in str(error) or "Unsupported global" in str(error):
            reason = "it holds Python objects other than tensors, which are never unpickled (weights_only=True)"
        raise CheckpointError(f"{path}: cannot read as a PyTorch checkpoint: {reason}") from error
    return _flatten(path, loaded)


def _check_torch_archive(path: Path) -> None:
    """A zip-format ``.pt``'s declared uncompressed size against the memory budget, before ``torch.load``
    decompresses anything: its members may be deflated, so a small file can expand to gigabytes. Counted
    twice: the tensors as stored and their float64 copies."""
    from gradscope.files.arrays import is_zip
    from gradscope.params.budget import check_budget

    if not is_zip(path):
        return  # the legacy format stores tensors raw: the file's own size bounds them
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as error:
        raise CheckpointError(f"{path}: cannot read as a PyTorch checkpoint: {error}") from error
    try:
        check_budget(f"{path}: its tensors", 2.0 * declared)
    except ConfigError as error:
        raise CheckpointError(str(error)) from None


def _load_safetensors(path: Path) -> dict[str, np.ndarray]:
    try:
        from safetensors.numpy import load_file
    except ImportError as error:
        raise CheckpointError(
            f"{path}: reading .safetensors needs the safetensors package: pip install 'gradscope[safetensors]'"
        ) from error
    try:
        return dict(load_file(str(path)))
    except Exception as error:  # SafetensorError on truncated or foreign files
        raise CheckpointError(f"{path}: not a valid .safetensors file ({error})") from error


#: How deep mappings may nest in a checkpoint (a training state is two or three levels deep).
MAX_DEPTH = 16


def _flatten(path: Path, value: object, prefix: str = "", depth: int = 0) -> dict[str, np.ndarray]:
    """Nested mappings of tensors/arrays to ``{"a.b.c": array}``; other leaves (numbers, strings) are skipped.

    A tensor that NumPy cannot hold faithfully (complex, sparse, meta, quantized) is refused, naming the entry.
    """
    if depth > MAX_DEPTH:
        raise CheckpointError(f"{path}: {prefix.rstrip('.')}: nested more than {MAX_DEPTH} levels deep; refused")
    if hasattr(value, "detach"):
        _check_tensor(path, prefix.rstrip("."), value)
        tensor = value.detach().cpu()
        # .double(): NumPy has no bfloat16, and gradscope computes in float64 anyway.
        return {prefix.rstrip("."): tensor.double().numpy() if tensor.is_floating_point() else tensor.numpy()}
    if isinstance(value, np.ndarray):
        return {prefix.rstrip("."): value}
    if isinstance(value, (list, tuple)) and prefix == "":
        raise CheckpointError(
            f"{path}: holds a {type(value).__name__}, not a state_dict (a mapping of names to tensors)"
        )
    if isinstance(value, Mapping):
        out: dict[str, np.ndarray] = {}
        for key, item in value.items():
            out |= _flatten(path, item, f"{prefix}{key}.", depth + 1)
        return out
    if prefix == "":
        raise CheckpointError(
            f"{path}: holds a {type(value).__name__}, not a state_dict (a mapping of names to tensors)"
        )
    return {}


def _check_tensor(path: Path, name: str, tensor: object) -> None:
    """Refuse a tensor whose values a float64 NumPy array cannot hold as they are."""
    layout = str(getattr(tensor, "layout", "torch.strided"))
    if layout != "torch.strided":
        raise CheckpointError(f"{path}: {name}: a sparse tensor ({layout}); refused (save it dense: .to_dense())")
    if getattr(tensor, "is_meta", False) or str(getattr(tensor, "device", "")) == "meta":
        raise CheckpointError(f"{path}: {name}: a meta tensor (shape only, no values); refused")
    if getattr(tensor, "is_quantized", False):
        raise CheckpointError(f"{path}: {name}: a quantized tensor; refused (save it dequantized)")
    if getattr(tensor, "is_complex", lambda: False)():
        raise CheckpointError(
            f"{path}: {name}: complex values ({tensor.dtype}); refused (the imaginary part would be lost)"
        )


def recurrent_prefixes(state: Mapping[str, object]) -> list[str]:
    """The module prefixes that hold recurrent parameters (``""`` for a bare RNN state_dict)."""
    return sorted({match.group("prefix") for key in state if (match := _RECURRENT.match(key))})


def select_recurrent(
    state: Mapping[str, np.ndarray], prefix: str | None = None, source: str = ""
) -> dict[str, np.ndarray]:
    """The parameters of one recurrent module under PyTorch's own names (``weight_ih_l0``, ...).

    Args:
        state: a flattened state_dict.
        prefix: the module's key prefix, e.g. ``"encoder.rnn."``; without it the only module
            holding recurrent weights is used, and several are an error listing them.
        source: how to name the checkpoint in messages (its path), if at all.
    """
    where = f"{source}: " if source else ""
    candidates = recurrent_prefixes(state)
    if prefix is None:
        if not candidates:
            raise CheckpointError(f"{where}no recurrent module found (no key ends in weight_hh_l0, weight_ih_l0, ...)")
        if len(candidates) > 1:
            listed = ", ".join(repr(c) for c in candidates)
            raise CheckpointError(f"{where}several recurrent modules ({listed}); choose one with --prefix")
        prefix = candidates[0]
    selected = {}
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        match = _RECURRENT.match(key[len(prefix) :])
        if match and match.group("prefix") == "":
            selected[match.group("name")] = value
    if not selected:
        listed = ", ".join(repr(c) for c in candidates) or "none"
        raise CheckpointError(f"{where}no recurrent parameters under prefix {prefix!r} (modules found: {listed})")
    return selected
