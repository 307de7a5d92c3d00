"""Cell files put in use, by the name they declare: how ``--cell PATH.toml`` reaches every layer.

The numeric layers, the reports and the sweeps pass cells by name. :func:`use_cell_file` reads a
file once (checked, without SymPy) and records it (:mod:`gradscope.cells.file_names`); from then on
its ``name`` resolves like a built-in cell's (:func:`~gradscope.cells.spec.resolve_name`,
:func:`~gradscope.cells.builtin.get_cell`, :func:`~gradscope.compile.compile_cell`), here and in
the worker processes a sweep starts. :func:`resolve` is ``resolve_name`` that also takes a path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from gradscope.cells.file import read_cell_file
from gradscope.cells.file_names import looks_like_file, record
from gradscope.cells.spec import ALIASES, ALL_CELL_NAMES, ZOO_CELL_NAMES, ZOO_FOLDER, CellSpec, resolve_name
from gradscope.errors import CellFileError

__all__ = ["looks_like_file", "resolve", "use_cell_file"]


def use_cell_file(path: str | os.PathLike[str], overrides: Mapping[str, object] | None = None) -> CellSpec:
    """Read and check a cell file and make its name resolvable in this process and in the workers it starts.

    Raises:
        CellFileError: the file is not a valid cell file (one line naming the file, key and token), or
            its name is a built-in or zoo cell's. A file read later under the same name replaces it.
    """
    source = os.path.abspath(os.fspath(path))
    checked = read_cell_file(os.fspath(path), overrides)
    name = checked.name
    zoo = Path(source).parent == ZOO_FOLDER.resolve()
    if not zoo and (name in ALL_CELL_NAMES or name in ZOO_CELL_NAMES or name in ALIASES):
        raise CellFileError(f"{path}: name: {name!r} is the name of a shipped cell; give the file a name of its own")
    record(name, (source, checked.constants))
    return checked.spec


def resolve(cell: object) -> str:
    """The registry name of ``cell``: a name (:func:`~gradscope.cells.spec.resolve_name`) or a cell file's
    path, read, checked and put in use (``"leaky.toml"`` gives ``"leaky-tanh"``)."""
    if isinstance(cell, (str, os.PathLike)) and looks_like_file(os.fspath(cell)):
        return use_cell_file(os.fspath(cell).strip()).name
    return resolve_name(cell)
