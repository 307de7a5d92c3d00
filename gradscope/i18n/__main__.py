"""Keep the catalogs in step with the code: ``python -m gradscope.i18n extract|update|check|compile|stats``.

* ``extract``: write the template ``gradscope/i18n/locales/gradscope.pot`` from the marked messages;
* ``update``: bring every language's ``.po`` in line with the template (like ``msgmerge``: translations
  kept, new messages empty, messages the code no longer has dropped);
* ``check``: exit 1 when the template is stale or a catalog lacks a translation, or a translation's
  placeholders differ from its English message's (what the tests check too);
* ``compile``: write the ``.mo`` files beside the ``.po`` files (the build does this by itself);
* ``stats``: how many messages each language translates.

The usual round after changing words in the code: ``extract``, ``update``, translate the new entries of
``locales/zh/LC_MESSAGES/gradscope.po``, ``check``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from gradscope.i18n import DOMAIN, LANGUAGES, LOCALE_DIR
from gradscope.i18n.catalog import Catalog, compile_po_file, merge, po_files, read_po_file, write_po
from gradscope.i18n.extract import extract, placeholders, source_files

#: The source tree this package lives in (the template is made from it).
ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
USAGE = "usage: python -m gradscope.i18n {extract|update|check|compile|stats}"


def template() -> Catalog:
    """The template as the code marks it today."""
    return extract(source_files(ROOT), ROOT)


def catalogs() -> dict[str, Path]:
    """Each translated language's ``.po`` file."""
    return {path.parents[1].name: path for path in po_files(LOCALE_DIR, DOMAIN)}


def problems() -> list[str]:
    """What is out of step: a stale template, missing or fuzzy translations, mismatched placeholders."""
    found = []
    current = template()
    if not TEMPLATE.is_file() or TEMPLATE.read_text(encoding="utf-8") != write_po(current):
        found.append(f"{TEMPLATE.relative_to(ROOT)} is stale: run `python -m gradscope.i18n extract`")
    for language in LANGUAGES[1:]:
        path = catalogs().get(language)
        if path is None:
            found.append(f"no catalog for {language!r}: expected {LOCALE_DIR / language / 'LC_MESSAGES'}")
            continue
        translated = read_po_file(path)
        where = path.relative_to(ROOT)
        keys = {m.key for m in translated.messages}
        missing = [m.msgid for m in current.messages if m.key not in keys]
        if missing:
            found.append(f"{where}: {len(missing)} messages not in the catalog (run update), e.g. {missing[0]!r}")
        for message in translated.messages:
            if not message.translated:
                found.append(f"{where}: not translated (or fuzzy): {message.msgid!r}")
                continue
            expected = sorted(set(placeholders(message.msgid)) | set(placeholders(message.msgid_plural or "")))
            for form in message.msgstr:
                if sorted(set(placeholders(form))) != expected:
                    found.append(f"{where}: placeholders differ in the translation of {message.msgid!r}: {form!r}")
    return found


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    command = argv[0]
    if command == "extract":
        current = template()
        TEMPLATE.write_text(write_po(current), encoding="utf-8")
        print(f"{TEMPLATE.relative_to(ROOT)}: {len(current.messages)} messages")
    elif command == "update":
        current = read_po_file(TEMPLATE)
        for language, path in catalogs().items():
            merged, dropped = merge(current, read_po_file(path))
            path.write_text(write_po(merged), encoding="utf-8")
            todo = sum(1 for m in merged.messages if not m.translated)
            print(f"{path.relative_to(ROOT)}: {todo} to translate, {dropped} translations dropped ({language})")
    elif command == "check":
        found = problems()
        for line in found:
            print(line, file=sys.stderr)
        if found:
            return 1
        print("catalogs are up to date and complete")
    elif command == "compile":
        for path in catalogs().values():
            compile_po_file(path, path.with_suffix(".mo"))
            print(f"{path.with_suffix('.mo').relative_to(ROOT)}")
    elif command == "stats":
        for language, path in catalogs().items():
            messages = read_po_file(path).messages
            print(f"{language}: {sum(m.translated for m in messages)} of {len(messages)} messages translated")
    else:
        print(USAGE, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
