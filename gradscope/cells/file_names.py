"""The names of the cell files in use in this process: plain data that name resolution reads.

:func:`gradscope.cells.file_registry.use_cell_file` reads and checks a file and records it here under
its ``name``; :func:`~gradscope.cells.spec.resolve_name` then knows the name. The table is also kept in
the environment variable :data:`ENV` (paths and constants, never code), so that the worker processes
a sweep starts resolve the same names (each worker reads and checks the file again itself).
"""

from __future__ import annotations

import json
import os

from gradscope.errors import ConfigError

#: The environment variable that carries the table to worker processes: JSON ``{name: [path, {constant: value}]}``.
ENV = "GRADSCOPE_CELL_FILES"

#: ``(absolute path, constants)`` of a file in use.
Entry = tuple[str, tuple[tuple[str, float], ...]]

_FILES: dict[str, Entry] = {}


def looks_like_file(value: str) -> bool:
    """Whether a cell given by a string names a file rather than a cell: ``.toml`` at its end, or a folder in it."""
    return value.strip().lower().endswith(".toml") or "/" in value or os.sep in value


def record(name: str, entry: Entry) -> None:
    """Put a checked file in use under ``name`` (the latest file read under a name is the one in use)."""
    _FILES[name] = entry
    table = {key: [file, dict(constants)] for key, (file, constants) in _FILES.items()}
    os.environ[ENV] = json.dumps(table, sort_keys=True)


def registered(name: str) -> Entry | None:
    """``(absolute path, constants)`` of the file in use under ``name``, or ``None``."""
    if name in _FILES:
        return _FILES[name]
    return _inherited().get(name)


def registered_names() -> tuple[str, ...]:
    """The names of the cell files in use, in the order they were read."""
    return tuple(dict.fromkeys([*_FILES, *_inherited()]))


def _inherited() -> dict[str, Entry]:
    """The table a parent process left in :data:`ENV` (a worker's view)."""
    text = os.environ.get(ENV, "")
    if not text:
        return {}
    try:
        table = json.loads(text)
        return {
            str(name): (str(file), tuple((str(k), float(v)) for k, v in dict(constants).items()))
            for name, (file, constants) in dict(table).items()
        }
    except (ValueError, TypeError) as error:
        raise ConfigError(f"environment variable {ENV}: not a table of cell files ({error})") from None
