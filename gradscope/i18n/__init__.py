"""Translations of user-facing text: GNU gettext catalogs of the domain ``gradscope`` (English, Chinese).

Text is written in English in the code and marked with :func:`_` (or :func:`ngettext` where it depends
on a count); a message catalog maps it to another language. The language is the one given to
:func:`set_language` (the command line's ``--lang``), else the locale's (``LANGUAGE``, ``LC_ALL``,
``LC_MESSAGES``, ``LANG``, as gettext reads them), else English. Numbers, JSON keys and schemas never
go through here: only words do.

The catalogs are ``locales/<language>/LC_MESSAGES/gradscope.po`` in the source tree, compiled to ``.mo``
files when the package is built (``hatch_build.py``, for ``pip install .`` and ``pip install -e .``
alike). A source tree that was never built (or whose ``.po`` is newer than its ``.mo``) is read from
the ``.po`` file directly, compiled in memory; without either, or with one that cannot be read, the text
stays English. ``python -m gradscope.i18n`` extracts the template and updates, checks and compiles the
catalogs (:mod:`gradscope.i18n.__main__`).
"""

from __future__ import annotations

import contextlib
import gettext
import io
import os
from collections.abc import Iterator
from pathlib import Path

DOMAIN = "gradscope"
#: Where the compiled catalogs live: ``locales/<language>/LC_MESSAGES/gradscope.mo``.
LOCALE_DIR = Path(__file__).with_name("locales")
#: The languages gradscope speaks; English is the source language and needs no catalog.
LANGUAGES = ("en", "zh")
_ENVIRONMENT = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_chosen: str | None = None
_translation: gettext.NullTranslations | None = None


def language_from_environment() -> str:
    """The first of :data:`LANGUAGES` that the locale variables name (``zh_CN.UTF-8`` is ``zh``), else ``en``."""
    for variable in _ENVIRONMENT:
        value = os.environ.get(variable, "")
        for entry in value.split(":"):
            code = entry.split(".")[0].split("_")[0].split("-")[0].lower()
            if code in LANGUAGES:
                return code
            if code and code not in ("c", "posix"):
                return "en"  # a locale we do not speak: English, not the next variable's language
    return "en"


def set_language(language: str | None) -> None:
    """Speak ``language`` (one of :data:`LANGUAGES`) from now on; ``None`` goes back to the locale's."""
    global _chosen, _translation
    if language is not None and language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
    _chosen, _translation = language, None


def chosen_language() -> str | None:
    """The language given to :func:`set_language` (``--lang``), or ``None`` when the locale's is spoken."""
    return _chosen


def current_language() -> str:
    """The language text is translated into now."""
    return _chosen if _chosen is not None else language_from_environment()


@contextlib.contextmanager
def using_language(language: str | None) -> Iterator[None]:
    """Speak ``language`` inside the block (``None``: the locale's), then whatever was chosen before."""
    global _chosen, _translation
    previous = _chosen, _translation
    set_language(language)
    try:
        yield
    finally:
        _chosen, _translation = previous


def catalog_path(language: str, suffix: str = ".mo") -> Path:
    """Where the catalog of ``language`` lives: ``locales/<language>/LC_MESSAGES/gradscope.mo`` (or ``.po``)."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}{suffix}"


def load_translation(language: str) -> gettext.NullTranslations:
    """The catalog of ``language``: the compiled ``.mo``, else the ``.po`` compiled in memory, else none (English).

    The ``.po`` file wins when it is newer than the ``.mo`` (a source tree edited after its last build).
    A catalog that cannot be read is no catalog: translation never stops a command.
    """
    if language == "en":
        return gettext.NullTranslations()
    compiled, source = catalog_path(language), catalog_path(language, ".po")
    try:
        if compiled.is_file() and (not source.is_file() or compiled.stat().st_mtime >= source.stat().st_mtime):
            with compiled.open("rb") as file:
                return gettext.GNUTranslations(file)
        if source.is_file():
            from gradscope.i18n.catalog import compile_mo, read_po_file

            return gettext.GNUTranslations(io.BytesIO(compile_mo(read_po_file(source))))
    except Exception:  # a damaged file fails in many ways (struct.error, UnicodeError, CatalogError, ...)
        pass
    return gettext.NullTranslations()


def _active() -> gettext.NullTranslations:
    global _translation
    if _translation is None:
        _translation = load_translation(current_language())
    return _translation


def _(message: str) -> str:
    """``message`` (English) in the current language; English where the catalog has no entry."""
    return _active().gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural form for ``count``, in the current language."""
    return _active().ngettext(singular, plural, count)


def N_(message: str) -> str:  # noqa: N802 - gettext's name for it
    """Mark ``message`` for the catalog without translating it now (a constant translated where it is shown)."""
    return message


__all__ = [
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "N_",
    "_",
    "catalog_path",
    "chosen_language",
    "current_language",
    "language_from_environment",
    "load_translation",
    "ngettext",
    "set_language",
    "using_language",
]
