"""Writing outputs: checked before any work, written atomically (all of it, or nothing), JSON kept strict.

Output files are written to a temporary file in the target's directory and moved into place with
:func:`os.replace`, so a failure never leaves a partial or empty file behind. This module is the
one writer: every command's files, and the gallery's, go through :func:`write_bytes_atomic`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gradscope.files.arrays import FileError


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
