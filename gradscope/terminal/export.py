"""A report as HTML or plain text: what a notebook shows, made by the same renderables the terminal prints.

A console records the renderable at a fixed width instead of writing it to a terminal, so the HTML
carries the report's colours as inline styles (no stylesheet to lose when a notebook is shared) and
the text is what ``NO_COLOR`` prints.
"""

from __future__ import annotations

import io

from rich.console import Console, RenderableType

from gradscope.terminal.format import REPORT_WIDTH

#: The block the HTML sits in: the terminal's monospaced fonts, lines kept whole (box drawing must not wrap).
HTML_BLOCK = (
    '<pre style="white-space:pre;overflow-x:auto;line-height:normal;'
    "font-family:Menlo,'DejaVu Sans Mono',consolas,'Courier New',monospace\">{code}</pre>"
)


def _recording_console(width: int, colours: bool) -> Console:
    return Console(
        record=True,
        file=io.StringIO(),
        width=width,
        color_system="truecolor" if colours else None,
        force_terminal=colours,
        highlight=False,
        legacy_windows=False,
        force_jupyter=False,  # inside a kernel rich would display every print itself instead of recording it
    )


def _record(console: Console, renderables: tuple[RenderableType, ...]) -> None:
    for renderable in renderables:  # a derivation's 2-D pictures may be wider than the console: never cut them
        console.print(renderable, crop=False)


def export_html(*renderables: RenderableType, width: int = REPORT_WIDTH) -> str:
    """The ``renderables`` one below the other (``""``: a blank line), laid out ``width`` columns wide, as one
    ``<pre>`` element with inline styles; the text in it is HTML-escaped."""
    console = _recording_console(width, colours=True)
    _record(console, renderables)
    return console.export_html(inline_styles=True, code_format=HTML_BLOCK)


def export_text(*renderables: RenderableType, width: int = REPORT_WIDTH) -> str:
    """The ``renderables`` one below the other (``""``: a blank line), laid out ``width`` columns wide, as plain
    text without styles."""
    console = _recording_console(width, colours=False)
    _record(console, renderables)
    return console.export_text(styles=False)


__all__ = ["HTML_BLOCK", "export_html", "export_text"]
