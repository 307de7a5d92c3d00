"""Translations of user-facing text: GNU gettext catalogs of the domain ``gradscope`` (English, Chinese).

Text is written in English in the code and marked with :func:`_` (or :func:`ngettext` where it depends
on a count); a message catalog maps it to another language. The language is the one given to
:func:`set_language` (the command line's ``--lang``), else the locale's (``LANGUAGE``, ``LC_ALL``,
``LC_MESSAGES``, ``LANG``, as gettext reads them), else English. Numbers, JSON keys and schemas never
go through here: only words do.
"""

from __future__ import annotations

import gettext
import os
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


def current_language() -> str:
    """The language text is translated into now."""
    return _chosen if _chosen is not None else language_from_environment()


def _active() -> gettext.NullTranslations:
    global _translation
    if _translation is None:
        language = current_language()
        _translation = (
            gettext.NullTranslations()
            if language == "en"
            else gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)
        )
    return _translation


def _(message: str) -> str:
    """``message`` (English) in the current language; English where the catalog has no entry."""
    return _active().gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural form for ``count``, in the current language."""
    return _active().ngettext(singular, plural, count)


__all__ = [
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "_",
    "current_language",
    "language_from_environment",
    "ngettext",
    "set_language",
]
