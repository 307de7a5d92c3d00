"""Fonts for figures in Chinese: one with CJK glyphs, found through matplotlib's font manager, or a clear warning.

matplotlib's default font (DejaVu Sans) has no Chinese glyphs: a Chinese label drawn with it comes out
as empty boxes, with nothing but a warning per glyph. So a figure drawn in Chinese looks for an
installed font that has them (:data:`CJK_FAMILIES`, in order, then any installed font file named like
one, for fonts installed after matplotlib built its font cache), checks that it really holds Chinese
glyphs, and draws with DejaVu Sans first and that font as the fallback, so that Latin letters, digits
and mathtext look exactly as in the English figures. Without one, the figure is drawn in English and
:func:`figure_language` warns once, naming what to install (:data:`INSTALL_HINT`).
"""

from __future__ import annotations

import contextlib
import functools
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import matplotlib as mpl
from matplotlib import font_manager
from matplotlib.ft2font import FT2Font

from gradscope.i18n import current_language, using_language

#: Font families with Simplified-Chinese glyphs, preferred first (free ones, then the systems' own).
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Sarasa Gothic SC",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "Hiragino Sans GB",
    "Noto Serif CJK SC",
    "AR PL UMing CN",
    "Droid Sans Fallback",
)
#: File names of such fonts, for those installed after matplotlib's font cache was built.
_CJK_FILE = re.compile(r"(?i)(NotoSans(CJK|SC)|SourceHanSans|wqy|WenQuanYi|msyh|simhei|PingFang|DroidSansFallback)")
#: Characters a font must have to be used: common ones of the Chinese reports.
PROBE = "梯度消失爆炸滞后步"
#: Latin glyphs, digits and mathtext come from this family in every language.
LATIN_FAMILY = "DejaVu Sans"
INSTALL_HINT = (
    "install a font with Chinese glyphs, e.g. Noto Sans CJK (Debian, Ubuntu: apt install fonts-noto-cjk; "
    "Fedora: dnf install google-noto-sans-cjk-fonts) or WenQuanYi Micro Hei (apt install fonts-wqy-microhei)"
)
NO_FONT = f"no installed font has Chinese glyphs, so the figure is labelled in English; {INSTALL_HINT}"


class MissingFontWarning(UserWarning):
    """A figure was asked for in Chinese, but no installed font can draw Chinese: it is drawn in English."""


def has_glyphs(path: str, text: str = PROBE) -> bool:
    """Whether the font file at ``path`` has a glyph for every character of ``text``."""
    try:
        font = FT2Font(path)
    except (OSError, RuntimeError, ValueError):
        return False
    return all(font.get_char_index(ord(char)) for char in text)


@functools.cache
def cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or ``None`` (looked up once per process)."""
    manager = font_manager.fontManager
    files: dict[str, list[str]] = {}
    for entry in manager.ttflist:
        files.setdefault(entry.name, []).append(entry.fname)
    for family in CJK_FAMILIES:
        if any(has_glyphs(path) for path in files.get(family, ())):
            return family
    known = {entry.fname for entry in manager.ttflist}
    for path in sorted(font_manager.findSystemFonts()):
        if path in known or not _CJK_FILE.search(Path(path).name) or not has_glyphs(path):
            continue
        manager.addfont(path)  # the cache predates this font: make matplotlib know it
        return font_manager.FontProperties(fname=path).get_name()
    return None


@contextlib.contextmanager
def figure_language() -> Iterator[None]:
    """Draw the figure made inside the block in the current language, with a font that has its glyphs.

    English needs nothing. Chinese draws with :data:`LATIN_FAMILY` first and :func:`cjk_font` as the
    fallback for the glyphs it lacks; without such a font, warns (:class:`MissingFontWarning`) and draws
    in English.
    """
    if current_language() == "en":
        yield
        return
    family = cjk_font()
    if family is None:
        warnings.warn(NO_FONT, MissingFontWarning, stacklevel=3)
        with using_language("en"):
            yield
        return
    with mpl.rc_context({"font.family": [LATIN_FAMILY, family]}):
        yield
