"""GNU gettext catalogs with the standard library alone: read and write ``.po``/``.pot`` files, compile ``.mo``.

This module imports nothing but the standard library, so the build hook (``hatch_build.py``) can load it
by its path and compile the catalogs while the wheel is built, before gradscope is importable. The
formats are GNU gettext's: a ``.po`` file is what translators edit (``msgid``, ``msgstr``, comments,
flags), a ``.mo`` file is what :mod:`gettext` reads at run time (a sorted table of NUL-terminated
strings, no hash table, as ``msgfmt --no-hash`` writes it). Fuzzy and untranslated messages are left out
of the ``.mo`` file, so gettext falls back to the English source text for them, as GNU ``msgfmt`` does.
"""

from __future__ import annotations

import ast
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

#: The ``.mo`` file's magic number (little-endian files).
MO_MAGIC = 0x950412DE
#: gettext's separator between a message's context and its id.
CONTEXT_SEPARATOR = "\x04"


class CatalogError(ValueError):
    """A ``.po`` file that cannot be read; the message names the file and the line."""


@dataclass(frozen=True)
class Message:
    """One entry of a catalog: the English ``msgid`` (and ``msgid_plural``) and its translations.

    ``msgstr`` holds one string, or one per plural form when ``msgid_plural`` is set; an empty string
    means "not translated yet". ``locations`` are the source files that use the message, ``flags``
    gettext's (``fuzzy``, ``python-brace-format``), ``comments`` the translator's own (``# ...``).
    """

    msgid: str
    msgstr: tuple[str, ...] = ("",)
    msgid_plural: str | None = None
    context: str | None = None
    locations: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    comments: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str | None, str]:
        """What identifies a message in a catalog: its context and its id."""
        return self.context, self.msgid

    @property
    def fuzzy(self) -> bool:
        return "fuzzy" in self.flags

    @property
    def translated(self) -> bool:
        """Every form has a translation and none is marked fuzzy."""
        return not self.fuzzy and all(self.msgstr)


@dataclass(frozen=True)
class Catalog:
    """A ``.po`` or ``.pot`` file: the header (the translation of the empty id) and the messages, in order."""

    header: str
    messages: tuple[Message, ...] = field(default_factory=tuple)

    def find(self, msgid: str, context: str | None = None) -> Message | None:
        return next((m for m in self.messages if m.key == (context, msgid)), None)


# ------------------------------------------------------------------------------------------- read

_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")\s*$')
_CONTINUATION = re.compile(r'^(".*")\s*$')


def _string(literal: str, where: str) -> str:
    """A quoted ``.po`` string (C escapes) as text."""
    try:
        value = ast.literal_eval(literal)  # a quoted literal only: the regex admits nothing else
    except (SyntaxError, ValueError) as error:
        raise CatalogError(f"{where}: bad string {literal}") from error
    if not isinstance(value, str):
        raise CatalogError(f"{where}: bad string {literal}")
    return value


def read_po(text: str, name: str = "<catalog>") -> Catalog:
    """Parse the text of a ``.po`` or ``.pot`` file (obsolete ``#~`` entries are dropped)."""
    messages: list[Message] = []
    header = ""
    entry: dict[str, object] = {}
    comments: dict[str, list[str]] = {"locations": [], "flags": [], "comments": []}
    last: tuple[str, int | None] | None = None

    def flush() -> None:
        nonlocal header, entry, last
        if "msgid" in entry:
            forms = entry.get("msgstr", {})
            assert isinstance(forms, dict)
            msgstr = tuple(forms[k] for k in sorted(forms)) or ("",)
            message = Message(
                msgid=str(entry["msgid"]),
                msgstr=msgstr,
                msgid_plural=entry.get("msgid_plural"),  # type: ignore[arg-type]
                context=entry.get("msgctxt"),  # type: ignore[arg-type]
                locations=tuple(comments["locations"]),
                flags=tuple(comments["flags"]),
                comments=tuple(comments["comments"]),
            )
            if message.msgid == "" and message.context is None:
                header = message.msgstr[0]
            else:
                messages.append(message)
        elif entry:
            raise CatalogError(f"{name}: an entry without msgid before line {number}")
        entry, last = {}, None
        for values in comments.values():
            values.clear()

    number = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{name}:{number}"
        if not line:
            flush()
        elif line.startswith("#~"):
            continue
        elif line.startswith("#"):
            if "msgid" in entry and last is not None and last[0] == "msgstr":
                flush()
            if line.startswith("#:"):
                comments["locations"] += line[2:].split()
            elif line.startswith("#,"):
                comments["flags"] += [flag.strip() for flag in line[2:].split(",") if flag.strip()]
            elif line.startswith("# ") or line == "#":
                comments["comments"].append(line[2:])
        elif match := _KEYWORD.match(line):
            keyword, index, literal = match.group(1), match.group(2), match.group(3)
            value = _string(literal, where)
            if keyword in ("msgctxt", "msgid") and "msgid" in entry and last is not None and last[0] == "msgstr":
                flush()
            if keyword.startswith("msgstr"):
                forms = entry.setdefault("msgstr", {})
                assert isinstance(forms, dict)
                slot = int(index) if index is not None else 0
                forms[slot] = value
                last = ("msgstr", slot)
            else:
                entry[keyword] = value
                last = (keyword, None)
        elif (match := _CONTINUATION.match(line)) and last is not None:
            value = _string(match.group(1), where)
            kind, slot = last
            if kind == "msgstr":
                forms = entry["msgstr"]
                assert isinstance(forms, dict)
                forms[slot] += value
            else:
                entry[kind] = str(entry[kind]) + value
        else:
            raise CatalogError(f"{where}: cannot read {raw!r}")
    number += 1
    flush()
    return Catalog(header, tuple(messages))


def read_po_file(path: Path) -> Catalog:
    return read_po(path.read_text(encoding="utf-8"), str(path))


def header_fields(catalog: Catalog) -> dict[str, str]:
    """The header's ``Name: value`` lines as a mapping."""
    fields = {}
    for line in catalog.header.splitlines():
        name, separator, value = line.partition(":")
        if separator:
            fields[name.strip()] = value.strip()
    return fields


def plural_forms(catalog: Catalog) -> int:
    """How many plural forms the catalog's language has (its header's ``nplurals``; 2 when it says nothing)."""
    found = re.search(r"nplurals\s*=\s*(\d+)", header_fields(catalog).get("Plural-Forms", ""))
    return int(found.group(1)) if found else 2


# ------------------------------------------------------------------------------------------ write


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t").replace("\n", "\\n")
    return f'"{escaped}"'


def _field(keyword: str, text: str) -> list[str]:
    """``keyword "text"``, split after each ``\\n`` as GNU gettext writes multi-line strings."""
    if "\n" not in text.rstrip("\n") or text == "":
        return [f"{keyword} {_quote(text)}"]
    pieces = [piece for piece in re.split(r"(?<=\n)", text) if piece]
    return [f'{keyword} ""', *(_quote(piece) for piece in pieces)]


def write_po(catalog: Catalog) -> str:
    """The catalog as the text of a ``.po`` file (a ``.pot`` file when no message is translated)."""
    blocks = ["\n".join(['msgid ""', 'msgstr ""', *_header_lines(catalog.header)])]
    for message in catalog.messages:
        lines = [f"# {comment}".rstrip() for comment in message.comments]
        lines += [f"#: {location}" for location in message.locations]
        if message.flags:
            lines.append("#, " + ", ".join(message.flags))
        if message.context is not None:
            lines += _field("msgctxt", message.context)
        lines += _field("msgid", message.msgid)
        if message.msgid_plural is None:
            lines += _field("msgstr", message.msgstr[0])
        else:
            lines += _field("msgid_plural", message.msgid_plural)
            for index, form in enumerate(message.msgstr):
                lines += _field(f"msgstr[{index}]", form)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _header_lines(header: str) -> list[str]:
    # The header is always written one field per line: 'msgstr ""' then '"Name: value\n"' lines.
    return [_quote(line) for line in re.split(r"(?<=\n)", header) if line]


def merge(template: Catalog, translations: Catalog) -> tuple[Catalog, int]:
    """The template's messages with the translations of ``translations`` carried over (like ``msgmerge``).

    Returns the merged catalog (the translations' header, the template's order, locations and flags;
    a message new in the template is empty) and how many translated messages were dropped because the
    template no longer has them.
    """
    merged = []
    for message in template.messages:
        old = translations.find(message.msgid, message.context)
        if old is not None and old.msgid_plural == message.msgid_plural:
            flags = tuple(dict.fromkeys((*message.flags, *(f for f in old.flags if f == "fuzzy"))))
            message = replace(message, msgstr=old.msgstr, flags=flags, comments=old.comments)
        elif message.msgid_plural is not None:
            message = replace(message, msgstr=("",) * plural_forms(translations))
        merged.append(message)
    kept = {m.key for m in template.messages}
    dropped = sum(1 for m in translations.messages if m.key not in kept and any(m.msgstr))
    return Catalog(translations.header, tuple(merged)), dropped


# ---------------------------------------------------------------------------------------- compile


def compile_mo(catalog: Catalog) -> bytes:
    """The catalog as the bytes of a ``.mo`` file: the header and every translated, non-fuzzy message."""
    entries = {"": catalog.header}
    for message in catalog.messages:
        if not message.translated:
            continue
        original = message.msgid if message.msgid_plural is None else f"{message.msgid}\0{message.msgid_plural}"
        if message.context is not None:
            original = message.context + CONTEXT_SEPARATOR + original
        entries[original] = "\0".join(message.msgstr)
    return _mo_bytes(sorted((k.encode("utf-8"), v.encode("utf-8")) for k, v in entries.items()))


def _mo_bytes(pairs: Sequence[tuple[bytes, bytes]]) -> bytes:
    """The ``.mo`` layout: header, the two tables of (length, offset), then the strings, each NUL-terminated."""
    count = len(pairs)
    originals_table, translations_table = 28, 28 + 8 * count
    strings_start = 28 + 16 * count
    originals, translations = bytearray(), bytearray()
    original_entries, translation_entries = [], []
    for original, translation in pairs:
        original_entries.append((len(original), len(originals)))
        originals += original + b"\0"
        translation_entries.append((len(translation), len(translations)))
        translations += translation + b"\0"
    translations_start = strings_start + len(originals)
    out = bytearray(struct.pack("<7I", MO_MAGIC, 0, count, originals_table, translations_table, 0, strings_start))
    for length, offset in original_entries:
        out += struct.pack("<2I", length, strings_start + offset)
    for length, offset in translation_entries:
        out += struct.pack("<2I", length, translations_start + offset)
    return bytes(out + originals + translations)


def compile_po_file(source: Path, target: Path) -> None:
    """Compile one ``.po`` file into a ``.mo`` file (its folder is made when missing)."""
    data = compile_mo(read_po_file(source))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def po_files(locale_dir: Path, domain: str) -> Iterable[Path]:
    """Every ``<language>/LC_MESSAGES/<domain>.po`` under ``locale_dir``, sorted."""
    return sorted(locale_dir.glob(f"*/LC_MESSAGES/{domain}.po"))
