"""``--lang en|zh`` and the locale: the same numbers and the same JSON in both languages, only the words differ."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import gradscope
from tests.cli_helpers import invoke

#: JSON fields whose values are words for people, and so follow the language. None yet: analyze and compare
#: write numbers, names and enumerations (``"verdict": "vanishing"``, ``"init": "pytorch"``) that a
#: program reads, and those stay English in every language.
TRANSLATED_JSON_FIELDS: dict[str, tuple[str, ...]] = {
    "gradscope.analysis/1": (),
    "gradscope.comparison/1": (),
    "gradscope.ensemble/1": (),
    "gradscope.ensemble-comparison/1": (),
}
SMALL = ("--hidden-size", "6", "--input-size", "3", "--steps", "30")
#: Numbers with a decimal point (or in scientific notation with one): the report's measurements.
DECIMALS = re.compile(r"[-+]?\d+\.\d+(?:e[-+]\d+)?")
CJK = re.compile(r"[\u4e00-\u9fff]")


def _without(document: object, fields: tuple[str, ...]) -> object:
    if isinstance(document, dict):
        return {k: _without(v, fields) for k, v in document.items() if k not in fields}
    if isinstance(document, list):
        return [_without(v, fields) for v in document]
    return document


@pytest.mark.parametrize(
    "command",
    [
        ("analyze", "--cell", "lstm", *SMALL),
        ("analyze", "--cell", "gru", "--samples", "3", *SMALL),
        ("compare", "--cells", "rnn,lstm,gru", *SMALL),
        ("compare", "--cells", "rnn,gru", "--samples", "2", *SMALL),
        ("analyze", "--cell", "lstm", "--forget-bias", "chrono", "--num-layers", "2", "--bidirectional", *SMALL),
        ("compare", "--cells", "rnn-relu,lstm,gru", "--init", "identity", "--update-bias", "1", *SMALL),
    ],
    ids=["analyze", "analyze --samples", "compare", "compare --samples", "analyze model options", "compare inits"],
)
def test_json_is_the_same_in_both_languages(command: tuple[str, ...]) -> None:
    english, chinese = (invoke(*command, "--json", "-", "--lang", lang) for lang in ("en", "zh"))
    assert english.exit_code == chinese.exit_code == 0, (english.output, chinese.output)
    en, zh = json.loads(english.stdout), json.loads(chinese.stdout)
    fields = TRANSLATED_JSON_FIELDS[en["schema"]]
    assert _without(en, fields) == _without(zh, fields)
    if not fields:
        assert english.stdout == chinese.stdout  # byte for byte


@pytest.mark.parametrize(
    "command",
    [
        ("analyze", "--cell", "lstm", *SMALL),
        ("analyze", "--cell", "rnn", "--samples", "3", *SMALL),
        ("compare", "--cells", "rnn,lstm,gru", *SMALL),
        ("analyze", "--cell", "gru", "--quiet", *SMALL),
    ],
)
def test_the_report_has_the_same_numbers_in_chinese_words(command: tuple[str, ...]) -> None:
    english = invoke(*command, "--lang", "en", env={"COLUMNS": "200"})
    chinese = invoke(*command, "--lang", "zh", env={"COLUMNS": "200"})
    assert english.exit_code == chinese.exit_code == 0
    assert not CJK.search(english.stdout) and CJK.search(chinese.stdout)
    assert sorted(DECIMALS.findall(english.stdout)) == sorted(DECIMALS.findall(chinese.stdout))


def test_the_chinese_analyze_report_speaks_the_literatures_terms() -> None:
    text = invoke("analyze", "--cell", "lstm", *SMALL, "--lang", "zh", env={"COLUMNS": "100"}).stdout
    for words in ("单步雅可比矩阵", "分子布局", "梯度范数随时间的变化", "结论", "梯度消失", "滞后 k", "初始状态"):
        assert words in text, words
    assert "gradscope analyze: lstm" in text  # commands and cell names are not words


def test_the_locale_chooses_the_language_and_lang_overrides_it() -> None:
    zh_locale = {"LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "zh_CN.UTF-8"}
    by_locale = invoke("cells", env=zh_locale).stdout
    assert by_locale == invoke("cells", "--lang", "zh").stdout and "说明" in by_locale
    assert invoke("cells", "--lang", "en", env=zh_locale).stdout == invoke("cells").stdout
    assert "description" in invoke("cells").stdout


def test_lang_before_the_command_applies_to_it_and_the_commands_own_wins() -> None:
    assert invoke("--lang", "zh", "cells").stdout == invoke("cells", "--lang", "zh").stdout
    assert invoke("--lang", "zh", "cells", "--lang", "en").stdout == invoke("cells").stdout
    # Each run starts afresh: a Chinese run leaves nothing behind for the next.
    invoke("--lang", "zh", "cells")
    assert "description" in invoke("cells").stdout


@pytest.mark.parametrize("command", ["analyze", "compare", "cells", "derive", "verify", "report", "sweep", "lyapunov"])
def test_every_command_takes_lang(command: str) -> None:
    result = invoke(command, "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--lang" in result.stdout


def test_an_unknown_language_is_a_usage_error() -> None:
    result = invoke("cells", "--lang", "fr")
    assert result.exit_code == 2 and "'fr' is not one of 'en', 'zh'" in result.output


def test_derive_speaks_chinese_around_the_formulas() -> None:
    english, chinese = invoke("derive", "--cell", "gru"), invoke("derive", "--cell", "gru", "--lang", "zh")
    assert "方程（单个隐藏单元）" in chinese.stdout and "单步雅可比矩阵的分块" in chinese.stdout
    formulas = [line for line in english.stdout.splitlines() if "dh_t/dh_{t-1} =" in line]
    assert formulas and all(line in chinese.stdout.splitlines() for line in formulas)  # formulas are not words


#: The Latin-script words a Chinese report keeps: names of cells, papers' and libraries' names, symbols, and
#: the values a program reads (``init pytorch``, ``normal(0, 1)``, ``float64``); a word not here is a gap.
KEPT_WORDS = {
    *("gradscope", "analyze", "compare", "samples", "hidden_size", "input_size", "output_size", "float"),
    *("PyTorch", "SymPy", "LSTM", "Elman", "Jordan", "ReLU", "Heaviside", "Frobenius", "IRNN", "Xavier", "chrono"),
    *("AntisymmetricRNN", "IMEX", "IndRNN", "JANET", "UGRNN", "coRNN", "gamma", "T_max"),
    *("diag", "tanh", "sigmoid", "normal", "pytorch", "orthogonal", "identity", "xavier", "gaussian"),
}
#: A word of four or more Latin letters, not part of a symbol (``hidden_size``, ``W_hh``) or a call (``diag(``).
LATIN_WORD = re.compile(r"(?<![\w])[A-Za-z][A-Za-z'-]{3,}(?![\w(])")


@pytest.mark.parametrize(
    "command",
    [
        ("analyze", "--cell", "lstm", "--norm", "frobenius", *SMALL),
        ("analyze", "--cell", "rnn", "--init", "orthogonal", "--gain", "3", *SMALL),
        ("analyze", "--cell", "rnn-relu", "--init", "identity", "--num-layers", "2", *SMALL),
        ("analyze", "--cell", "jordan", *SMALL),
        ("analyze", "--cell", "gru", "--samples", "3", "--update-bias", "chrono", *SMALL),
        ("compare", "--cells", "rnn,lstm,gru", "--forget-bias", "2", *SMALL),
        ("compare", "--cells", "rnn,indrnn,cornn", "--gain", "4", "--samples", "2", *SMALL),
        ("cells",),
    ],
)
def test_chinese_reports_leave_no_english_words(command: tuple[str, ...]) -> None:
    chinese = invoke(*command, "--lang", "zh", env={"COLUMNS": "200"})
    assert chinese.exit_code == 0, chinese.output
    cells = set(invoke("cells", env={"COLUMNS": "200"}).stdout.split())  # names of cells are names
    words = set(LATIN_WORD.findall(chinese.stdout)) - KEPT_WORDS - cells
    assert not words, f"untranslated in the Chinese report: {sorted(words)}"


def test_the_shipped_cells_titles_are_in_the_catalog() -> None:
    import tomllib

    from gradscope import i18n
    from gradscope.i18n.catalog import read_po_file

    zoo = sorted((Path(gradscope.__file__).parent / "cells" / "zoo").glob("*.toml"))
    titles = [tomllib.loads(path.read_text(encoding="utf-8"))["title"] for path in zoo]
    words = {m.msgid: m.msgstr[0] for m in read_po_file(i18n.catalog_path("zh", ".po")).messages}
    chinese = invoke("cells", "--lang", "zh", env={"COLUMNS": "300"}).stdout
    assert len(titles) >= 9
    for title in titles:
        assert words.get(title), title
        assert words[title] in chinese and title not in chinese
