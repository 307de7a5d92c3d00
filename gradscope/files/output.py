"""Writing outputs: checked before any work, written atomically (all of it, or nothing), JSON kept strict.

Output files are written to a temporary file in the target's directory and moved into place with
:func:`os.replace`, so a failure never leaves a partial or empty file behind. This module is the
one writer: every command's files, and the gallery's, go through :func:`write_bytes_atomic`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from gradscope.files.arrays import FileError


def check_output_path(path: Path | str) -> Path:
    """``path`` if a regular file can be created (or replaced) there, else a :class:`FileError` naming it.

    Called before any work, so that a bad ``--json`` path fails fast and writes nothing, and again just
    before the write. Only regular files are ever written: an existing symbolic link, directory, FIFO,
    socket or device at ``path`` is refused, never replaced (``/dev/stdout`` too: ``-`` is the way to
    write on stdout, and it keeps the report off the JSON stream).
    """
    if isinstance(path, str) and not path.strip():
        raise FileError("empty output path; give a file name to write to (or - for stdout where allowed)")
    path = Path(path)
    parent = path.parent
    kind = _existing_kind(path)
    if kind == "directory":
        raise FileError(f"{path}: is a directory; give a file name to write to")
    if kind is not None:
        hint = " (use - to write on stdout)" if str(path).startswith("/dev/") or str(path).startswith("/proc/") else ""
        raise FileError(f"{path}: is a {kind}, not a regular file; refused, never replaced{hint}")
    if not parent.exists():
        raise FileError(f"{path}: cannot write: directory {parent} does not exist")
    if not parent.is_dir():
        raise FileError(f"{path}: cannot write: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FileError(f"{path}: cannot write: no permission to create files in {parent}")
    return path


def _existing_kind(path: Path) -> str | None:
    """What is at ``path`` when it is not a regular file (``"symbolic link"``, ``"FIFO"``, ...); None when it is
    one or nothing is there. ``lstat``: a link is judged itself, not what it points to."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def check_output_dir(path: Path | str) -> Path:
    """``path`` if it is, or can be created as, a directory to write files into; else a :class:`FileError`.

    Called before any work (``gradscope report --out DIR``), so that a bad folder fails fast. Missing
    folders are fine when the nearest existing ancestor is a writable directory (they are created
    when the files are written).
    """
    if isinstance(path, str) and not path.strip():
        raise FileError("empty folder name; give a folder to write the files into (e.g. --out reports)")
    path = Path(path)
    if path.is_symlink() and not path.is_dir():
        raise FileError(f"{path}: is a symbolic link to no folder; give a folder to write the files into")
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


def same_file(first: Path | str, second: Path | str) -> bool:
    """Whether two spellings name one file: the same resolved path (``a/../b``, links followed), or, for
    files that exist, the same device and inode (a hard link)."""
    first, second = Path(first), Path(second)
    try:
        if first.resolve() == second.resolve():
            return True
    except (OSError, RuntimeError):  # a loop of links: compared by inode below, if at all
        pass
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def check_distinct_outputs(outputs: Mapping[str, Path | str], inputs: Mapping[str, Path | str] | None = None) -> None:
    """Refuse, before any work, an output that is also an input of the run, or two outputs on one file.

    Args:
        outputs: each output's option (``"--json"``) to its path.
        inputs: each input's option (``"--weights"``) to its path: what the run reads.

    Raises:
        FileError: naming both options and the path.
    """
    named = list(outputs.items())
    for option, path in named:
        for source, read in (inputs or {}).items():
            if same_file(path, read):
                raise FileError(
                    f"{path}: {option} would overwrite {source} {read} (the same file); write the output elsewhere"
                )
    for index, (option, path) in enumerate(named):
        for other, other_path in named[index + 1 :]:
            if same_file(path, other_path):
                raise FileError(f"{path}: given to both {option} and {other}; give each output a file of its own")


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
    with _signals_held():
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, mode)
            check_output_path(path)  # what is there now: a FIFO or link put there meanwhile is refused too
            os.replace(temporary, path)
        except BaseException as error:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            if isinstance(error, OSError):
                raise FileError(f"{path}: cannot write ({error.strerror or error})") from error
            raise
    return path


#: The signals held back while a file is written: delivered right after it is in place (or gone).
_HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold ``SIGINT``/``SIGTERM``/``SIGHUP`` back while a file is written, so that an interruption cannot
    leave a temporary file behind (a default ``SIGTERM`` ends the process without any cleanup); a signal that
    arrived is delivered, as it would have been, once the file is in place. ``SIGKILL`` cannot be held.

    In the main thread the signals are caught by a handler that notes them: a mask would not do, since the
    kernel gives a process-directed signal to any thread that does not block it (BLAS's worker threads
    included), and its default action ends the whole process. Elsewhere (the handler can only be set in the
    main thread) this thread's mask holds them, which is what a thread can do.
    """
    if threading.current_thread() is not threading.main_thread():
        previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        return
    arrived: list[int] = []

    def note(number: int, _frame: object) -> None:
        arrived.append(number)

    previous = {number: signal.signal(number, note) for number in _HELD_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        for number in dict.fromkeys(arrived):
            signal.raise_signal(number)  # as it would have come: the previous handler, or the default action


def to_json(document: Mapping[str, Any]) -> str:
    """Strict JSON text (no ``NaN``/``Infinity``), indented, ending in a newline."""
    try:
        return json.dumps(document, indent=2, allow_nan=False) + "\n"
    except ValueError as error:  # a non-finite float slipped through: a bug, not bad input
        raise RuntimeError(f"document is not valid JSON: {error}") from error
