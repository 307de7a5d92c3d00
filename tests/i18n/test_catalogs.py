"""The catalogs: the template is what the code marks today, Chinese translates all of it, and the ``.mo`` files
gradscope compiles are GNU msgfmt's, byte for byte; a missing or broken catalog is English, never a crash."""

from __future__ import annotations

import gettext
import io
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from gradscope import i18n
from gradscope.i18n import __main__ as tools
from gradscope.i18n.catalog import CatalogError, compile_mo, read_po, read_po_file, write_po
from gradscope.i18n.extract import ExtractError, messages_in_source, placeholders

ZH = i18n.catalog_path("zh", ".po")


def test_template_is_current() -> None:
    assert tools.TEMPLATE.read_text(encoding="utf-8") == write_po(tools.template()), (
        "gradscope/i18n/locales/gradscope.pot is stale: run `python -m gradscope.i18n extract`, then "
        "`python -m gradscope.i18n update` and translate the new entries"
    )


def test_every_message_is_translated_with_the_same_placeholders() -> None:
    assert tools.problems() == []
    translated = read_po_file(ZH)
    assert len(translated.messages) == len(tools.template().messages) >= 100
    for message in translated.messages:
        for form in message.msgstr:
            assert sorted(set(placeholders(form))) == sorted(set(placeholders(message.msgid)))
            assert form != message.msgid or not any(char.isalpha() for char in form), message.msgid


def test_the_technical_terms_are_the_literatures() -> None:
    """Spot checks against the words the Chinese deep-learning literature uses."""
    words = {m.msgid: m.msgstr[0] for m in read_po_file(ZH).messages}
    assert words["vanishing"] == "梯度消失" and words["exploding"] == "梯度爆炸"
    assert "雅可比矩阵" in words["Per-step Jacobian, derived by SymPy"]
    assert (
        "梯度裁剪"
        in words["it exceeds 1e+06 from lag {lag} on: training on sequences this long needs gradient clipping."]
    )
    assert "分子布局" in words["J_t[i, j] = d s_t[i] / d s_{{t-1}}[j] (numerator layout), s = {state}:"]
    assert words["spectral"] == "谱范数" and words["initial state"] == "初始状态"


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="needs GNU gettext's msgfmt")
def test_the_compiled_catalog_is_gnu_msgfmts(tmp_path: Path) -> None:
    gnu = tmp_path / "gnu.mo"
    subprocess.run(["msgfmt", "--check", "--no-hash", "-o", str(gnu), str(ZH)], check=True, capture_output=True)
    assert compile_mo(read_po_file(ZH)) == gnu.read_bytes()


def test_po_files_read_back_as_written() -> None:
    text = ZH.read_text(encoding="utf-8")
    assert write_po(read_po(text)) == text


def test_po_syntax_the_tools_write_is_read() -> None:
    text = textwrap.dedent(
        r"""
        msgid ""
        msgstr ""
        "Language: zh_CN\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "Plural-Forms: nplurals=1; plural=0;\n"

        # a translator's note
        #: gradscope/x.py
        #, python-brace-format
        msgid "two "
        "lines {n}\n"
        msgstr "两行 {n}\n"

        #, fuzzy
        msgid "rough"
        msgstr "粗略"

        msgctxt "menu"
        msgid "file"
        msgid_plural "files"
        msgstr[0] "文件"

        #~ msgid "gone"
        #~ msgstr "没了"
        """
    )
    catalog = read_po(text)
    lines, rough, files = catalog.messages
    assert lines.msgid == "two lines {n}\n" and lines.msgstr == ("两行 {n}\n",)
    assert lines.comments == ("a translator's note",) and lines.flags == ("python-brace-format",)
    assert rough.fuzzy and not rough.translated
    assert files.context == "menu" and files.msgid_plural == "files" and files.msgstr == ("文件",)
    translation = gettext.GNUTranslations(io.BytesIO(compile_mo(catalog)))
    assert translation.gettext("two lines {n}\n") == "两行 {n}\n"
    assert translation.gettext("rough") == "rough"  # fuzzy: left out, as msgfmt does
    assert translation.npgettext("menu", "file", "files", 5) == "文件"
    with pytest.raises(CatalogError, match=r"x\.po:3: cannot read"):
        read_po('msgid ""\nmsgstr ""\nmsgid "a" junk\n', "x.po")


def test_marked_text_must_be_a_literal_with_named_placeholders() -> None:
    found = messages_in_source('_("rate {rate}/step")\nN_("kept")\nngettext("{n} lag", "{n} lags", n)\n', "m.py")
    assert [(line, m.msgid, m.msgid_plural) for line, m in found] == [
        (1, "rate {rate}/step", None),
        (2, "kept", None),
        (3, "{n} lag", "{n} lags"),
    ]
    assert found[0][1].flags == ("python-brace-format",) and found[1][1].flags == ()
    assert messages_in_source("_(TITLES[key])\n", "m.py") == []  # translates text marked elsewhere
    with pytest.raises(ExtractError, match=r"m\.py:2: an f-string inside a translation call"):
        messages_in_source('x = 1\n_(f"rate {x}")\n', "m.py")
    with pytest.raises(ExtractError, match=r"m\.py:1: .* positional placeholder"):
        messages_in_source('_("rate {}/step")\n', "m.py")


def test_the_tools_command_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert tools.main(["check"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert tools.main(["stats"]) == 0
    assert "zh: " in capsys.readouterr().out
    assert tools.main(["nonsense"]) == 2


# ---------------------------------------------------------------------------------------------- loading


@pytest.fixture
def locales(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A locale folder of our own, holding a copy of the Chinese ``.po`` file and nothing else."""
    folder = tmp_path / "locales"
    (folder / "zh" / "LC_MESSAGES").mkdir(parents=True)
    shutil.copy(ZH, folder / "zh" / "LC_MESSAGES" / "gradscope.po")
    monkeypatch.setattr(i18n, "LOCALE_DIR", folder)
    return folder


def test_a_source_tree_that_was_never_built_reads_its_po_file(locales: Path) -> None:
    assert not list(locales.rglob("*.mo"))
    assert i18n.load_translation("zh").gettext("vanishing") == "梯度消失"


def test_the_compiled_catalog_is_preferred_unless_the_po_file_is_newer(locales: Path) -> None:
    po, mo = i18n.catalog_path("zh", ".po"), i18n.catalog_path("zh")
    catalog = read_po_file(po)
    marked = type(catalog)(catalog.header, tuple(m for m in catalog.messages if m.msgid != "stable"))
    mo.write_bytes(compile_mo(marked))  # a compiled catalog that lacks "stable"
    os.utime(po, (1_000_000, 1_000_000))
    assert i18n.load_translation("zh").gettext("stable") == "stable"  # the .mo file, as built
    os.utime(po, None)
    os.utime(mo, (1_000_000, 1_000_000))
    assert i18n.load_translation("zh").gettext("stable") == "稳定"  # the .po file, edited since


@pytest.mark.parametrize("damage", ["missing", "corrupt mo", "corrupt po"])
def test_no_catalog_or_a_broken_one_is_english(locales: Path, damage: str) -> None:
    po, mo = i18n.catalog_path("zh", ".po"), i18n.catalog_path("zh")
    if damage == "missing":
        po.unlink()
    elif damage == "corrupt mo":
        mo.write_bytes(b"\xde\x12\x04\x95 not a catalog")
        os.utime(po, (1_000_000, 1_000_000))
    else:
        po.write_text('msgid "vanishing"\nmsgstr "梯度消失\n', encoding="utf-8")
    translation = i18n.load_translation("zh")
    assert translation.gettext("vanishing") == "vanishing"
    i18n.set_language("zh")
    assert i18n._("vanishing") == "vanishing"


def test_using_language_restores_the_choice() -> None:
    i18n.set_language("zh")
    with i18n.using_language("en"):
        assert i18n.current_language() == "en" and i18n._("vanishing") == "vanishing"
    assert i18n.current_language() == "zh" and i18n._("vanishing") == "梯度消失"
    assert i18n.N_("vanishing") == "vanishing"  # marks, never translates
