"""Which language gradscope speaks: the locale's by default, ``set_language`` over it, English otherwise."""

from __future__ import annotations

import pytest

from gradscope import i18n


@pytest.fixture(autouse=True)
def _no_chosen_language():
    yield
    i18n.set_language(None)


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "zh_TW.UTF-8"}, "zh"),
        ({"LANG": "en_GB.UTF-8"}, "en"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({}, "en"),
        ({"LANGUAGE": "zh_CN:en", "LANG": "en_US.UTF-8"}, "zh"),  # LANGUAGE comes first, as in gettext
        ({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),  # LC_ALL overrides LANG
        ({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}, "zh"),  # C says nothing about the language
    ],
)
def test_language_from_the_locale(monkeypatch, environment, expected):
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    assert i18n.language_from_environment() == expected
    assert i18n.current_language() == expected


def test_set_language_overrides_the_locale(monkeypatch):
    monkeypatch.delenv("LANGUAGE", raising=False)  # the test suite's own English
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    i18n.set_language("en")
    assert i18n.current_language() == "en"
    i18n.set_language(None)
    assert i18n.current_language() == "zh"


def test_an_unknown_language_is_refused():
    with pytest.raises(ValueError, match="language must be one of en, zh, got 'fr'"):
        i18n.set_language("fr")


def test_english_text_is_the_source():
    i18n.set_language("en")
    assert i18n._("vanishing") == "vanishing"
    assert i18n.ngettext("{n} step", "{n} steps", 1) == "{n} step"
    assert i18n.ngettext("{n} step", "{n} steps", 2) == "{n} steps"
