"""The message template (``gradscope.pot``) read from the code: every string marked with ``_``, ``N_`` or ``ngettext``,
and the ``title`` of every cell file the package ships (the zoo's TOML files: shown through ``_(spec.title)``).

Like ``xgettext --language=Python --keyword=_ --keyword=N_ --keyword=ngettext:1,2``, but through Python's
own parser (:mod:`ast`), so that it needs no GNU tools and can refuse what cannot be translated: an
f-string or other computed text inside ``_()`` (the catalog could never hold it; a name or a lookup,
``_(TITLES[key])``, translates text marked elsewhere with ``N_`` and is skipped) and positional
placeholders ``{}`` (a translation may need to reorder them; messages name theirs: ``{lag}``). Locations
name the file, not the line, so that moving code does not make the template stale.
"""

from __future__ import annotations

import ast
import string
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import tomllib

from gradscope.i18n.catalog import Catalog, Message

#: Functions whose first argument (``ngettext``: first two) is a message.
SINGULAR_KEYWORDS = ("_", "N_")
PLURAL_KEYWORDS = ("ngettext",)
#: The template's header; the catalogs of each language carry their own (language, plural forms).
TEMPLATE_HEADER = (
    "Project-Id-Version: gradscope\n"
    "Report-Msgid-Bugs-To: \n"
    "Language: \n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=UTF-8\n"
    "Content-Transfer-Encoding: 8bit\n"
)


class ExtractError(ValueError):
    """A marked message that cannot be extracted; the message names the file and line."""


def placeholders(text: str) -> tuple[str, ...]:
    """The names of the ``str.format`` fields of ``text``, in order (``""`` for a positional ``{}``)."""
    return tuple(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


def _keyword(call: ast.Call) -> str | None:
    function = call.func
    if isinstance(function, ast.Name):
        return function.id
    if isinstance(function, ast.Attribute):
        return function.attr
    return None


def _literal(node: ast.expr, where: str) -> str | None:
    """The message of a call's argument: a string literal; ``None`` for a name or lookup (text marked
    elsewhere with ``N_``, translated here); an f-string can never be in a catalog."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, (ast.JoinedStr, ast.BinOp, ast.Constant)):
        kind = "an f-string" if isinstance(node, ast.JoinedStr) else "computed text"
        raise ExtractError(f"{where}: {kind} inside a translation call; mark a literal and fill it with .format()")
    return None


def _checked(text: str, where: str) -> str:
    try:
        names = placeholders(text)
    except ValueError as error:
        raise ExtractError(f"{where}: {text!r} is not a valid format string: {error}") from error
    if any(not name or name.isdigit() for name in names):
        raise ExtractError(f"{where}: {text!r} has a positional placeholder; name it, e.g. {{lag}}")
    return text


def messages_in_source(source: str, location: str) -> list[tuple[int, Message]]:
    """The marked messages of one module's source, with their line numbers."""
    found = []
    for node in ast.walk(ast.parse(source, filename=location)):
        if not isinstance(node, ast.Call):
            continue
        keyword = _keyword(node)
        where = f"{location}:{node.lineno}"
        if keyword in SINGULAR_KEYWORDS and len(node.args) == 1 and not node.keywords:
            msgid = _literal(node.args[0], where)
            if msgid is not None:
                found.append((node.lineno, _message(_checked(msgid, where), None, location)))
        elif keyword in PLURAL_KEYWORDS and len(node.args) == 3:
            singular, plural = _literal(node.args[0], where), _literal(node.args[1], where)
            if singular is not None and plural is not None:
                message = _message(_checked(singular, where), _checked(plural, where), location)
                found.append((node.lineno, message))
    return sorted(found, key=lambda pair: pair[0])


def messages_in_cell_file(source: str, location: str) -> list[tuple[int, Message]]:
    """The ``title`` of one shipped cell file (TOML) as a message; the rest of a cell file is names and formulas."""
    try:
        title = tomllib.loads(source).get("title")
    except tomllib.TOMLDecodeError as error:
        raise ExtractError(f"{location}: not valid TOML: {error}") from error
    if not isinstance(title, str) or not title:
        return []
    return [(1, _message(_checked(title, location), None, location))]


def _message(msgid: str, plural: str | None, location: str) -> Message:
    flags = ("python-brace-format",) if placeholders(msgid) or (plural and placeholders(plural)) else ()
    return Message(msgid, ("", "") if plural is not None else ("",), plural, None, (location,), flags)


def source_files(root: Path, package: str = "gradscope") -> list[Path]:
    """The package's modules, sorted (the generated code aside: it holds no words for people), then the cell
    files it ships (``cells/zoo/*.toml``), sorted."""
    modules = sorted(p for p in (root / package).rglob("*.py") if p.name != "generated.py")
    return modules + sorted((root / package / "cells" / "zoo").glob("*.toml"))


def extract(files: Iterable[Path], root: Path) -> Catalog:
    """The template of every message marked in ``files`` (paths shown relative to ``root``), in file order."""
    by_key: dict[tuple[str | None, str], Message] = {}
    for path in files:
        location = path.relative_to(root).as_posix()
        read = messages_in_cell_file if path.suffix == ".toml" else messages_in_source
        for _, message in read(path.read_text(encoding="utf-8"), location):
            known = by_key.get(message.key)
            if known is None:
                by_key[message.key] = message
                continue
            if known.msgid_plural != message.msgid_plural:
                raise ExtractError(f"{location}: {message.msgid!r} is used both with and without a plural form")
            if location not in known.locations:
                by_key[message.key] = replace(known, locations=(*known.locations, location))
    return Catalog(TEMPLATE_HEADER, tuple(by_key.values()))
