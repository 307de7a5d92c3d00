"""Reading arrays from files without ever running code: ``.npy`` and ``.npz`` with ``allow_pickle=False``.

A file that holds Python objects is refused. Every error names the file (and the array inside
it) and derives from :class:`~gradscope.errors.GradscopeError`, so the command line turns it into
one clean line and exit code 2.
"""

from __future__ import annotations

import contextlib
import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from gradscope.errors import GradscopeError, ParameterError
from gradscope.params.arrays import as_float_array

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK"  # local file header PK\x03\x04, or PK\x05\x06 for an empty archive
#: dtype kinds accepted as numbers: float, signed and unsigned integers.
_NUMERIC_KINDS = "fiu"


class FileError(GradscopeError, ValueError):
    """A file named on the command line is missing, unreadable, of the wrong kind or not writable."""


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


def check_regular_file(path: Path, error: type[GradscopeError]) -> None:
    """Refuse, before opening it, what is not a regular file: a FIFO would hang the read, a device or a
    ``/proc`` file has no fixed size; ``error`` is the type raised (its message names the path)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as problem:
        raise error(f"{path}: cannot read ({problem.strerror or problem})") from problem
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{path}: is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        kind = "FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else "device or special file"
        raise error(f"{path}: is a {kind}, not a regular file; refused")
    if str(Path(path).resolve()).startswith("/proc/"):
        raise error(f"{path}: is a /proc file, not a data file; refused")


def _read_header(handle: object, version: tuple[int, int]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """An ``.npy`` header's ``(shape, fortran_order, dtype)``, reading the header only."""
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(handle)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(handle)
    raise ValueError(f"unsupported .npy format version {version}")


def check_npz_sizes(path: Path, error: type[GradscopeError] = GradscopeError) -> None:
    """Read every member's ``.npy`` header (a few bytes decompressed, never the data) and check the declared
    shapes against the memory budget and the member's stored size; refuse object arrays. Raises ``error``
    (the file layer's type) naming the member."""
    from gradscope.params.budget import check_budget, format_bytes

    total = 0
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                name = member.filename.removesuffix(".npy")
                with archive.open(member) as handle:
                    version = np.lib.format.read_magic(handle)
                    shape, _order, dtype = _read_header(handle, version)
                if dtype.hasobject:
                    raise error(
                        f"{path}: holds pickled Python objects; refused, never unpickled ({name}: arrays are "
                        "loaded with allow_pickle=False)"
                    )
                elements = int(np.prod(shape, dtype=object))
                declared = elements * dtype.itemsize
                if declared > member.file_size:
                    raise error(
                        f"{path}: {name}: declares shape {shape} ({format_bytes(declared)}) but holds only "
                        f"{format_bytes(member.file_size)}; truncated or corrupt"
                    )
                total += elements
    except GradscopeError:
        raise
    except Exception as problem:  # BadZipFile, a malformed header (ValueError), EOFError
        raise error(f"{path}: not a valid .npz archive ({problem})") from problem
    try:
        check_budget(f"{path}: its arrays (as float64)", 8.0 * total)
    except GradscopeError as problem:
        raise error(str(problem)) from None


def _check_npy_size(path: Path, name: str) -> None:
    """An ``.npy`` file's declared shape against the bytes it holds and the memory budget, from its header
    alone: NumPy allocates the declared array before it reads a byte of it."""
    from gradscope.params.budget import check_budget, format_bytes

    try:
        with path.open("rb") as handle:
            shape, _order, dtype = _read_header(handle, np.lib.format.read_magic(handle))
            held = os.fstat(handle.fileno()).st_size - handle.tell()
    except Exception:  # a malformed header: np.load says what is wrong with it
        return
    if dtype.hasobject:
        return  # refused by np.load(allow_pickle=False), with its own message
    elements = int(np.prod(shape, dtype=object))
    if elements * dtype.itemsize > held:
        raise FileError(
            f"{path}: {name}: declares shape {tuple(shape)} ({format_bytes(elements * dtype.itemsize)}) but holds "
            f"only {format_bytes(held)}; truncated or corrupt"
        )
    try:
        check_budget(f"{path}: {name} (as float64)", 8.0 * elements)
    except GradscopeError as problem:
        raise FileError(str(problem)) from None


def is_zip(path: Path) -> bool:
    """Whether ``path`` looks like a zip archive. :func:`zipfile.is_zipfile` itself raises ``BadZipFile`` on
    some corrupt end records (a "multi-disk" one), which here just means: not a readable archive."""
    try:
        return zipfile.is_zipfile(path)
    except (zipfile.BadZipFile, ValueError, EOFError):
        return False


def _read_magic(path: Path) -> bytes:
    """The first bytes of ``path``, or a :class:`FileError` saying why it cannot be read."""
    check_regular_file(path, FileError)
    try:
        with path.open("rb") as handle:
            return handle.read(len(_NPY_MAGIC))
    except OSError as error:
        raise FileError(f"{path}: cannot read ({error.strerror or error})") from error


def _checked_array(path: Path, name: str, array: np.ndarray) -> np.ndarray:
    """``array`` as finite float64, with errors naming the file and the array."""
    if array.dtype.kind == "c":
        raise ParameterError(f"{path}: {name}: complex values (dtype {array.dtype}) cannot be represented; refused")
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
    if not magic.startswith(_ZIP_MAGIC) or not is_zip(path):
        raise FileError(f"{path}: not an .npz archive (save the state_dict with np.savez)")
    check_npz_sizes(path, FileError)
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as archive:
            for name in archive.files:
                arrays[name] = _checked_array(path, name, archive[name])
    except GradscopeError:
        raise
    except Exception as error:  # a corrupt header can raise almost anything (tokenize's TokenError, too)
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
    _check_npy_size(path, name)
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as error:  # a corrupt header can raise almost anything (tokenize's TokenError, too)
        raise _load_error(path, error) from error
    return _checked_array(path, name, array)
