"""IPython's display formatters told how to show gradscope's results: HTML (report and figure) and plain text.

Registration names each type by module and class (``for_type_by_name``), so it imports nothing: a kernel
that never makes a sweep never imports Dask. It happens by itself when ``gradscope`` is imported inside a
running IPython (a Jupyter kernel, the IPython shell), and with ``%load_ext gradscope``. IPython itself is
never imported here: it is looked up in ``sys.modules``, where a kernel has already put it.
"""

from __future__ import annotations

import shutil
import sys
from typing import Any

from gradscope.notebook.reports import VIEWS, result_html, result_text

#: The MIME types registered: a notebook shows the HTML, a terminal (or a text export) the plain text.
MIME_TYPES = ("text/html", "text/plain")
#: The narrowest plain-text report (a terminal narrower than this wraps it rather than squeezing the tables).
MIN_TEXT_WIDTH = 60


def running_shell() -> Any | None:
    """The running IPython shell, or ``None`` outside one (also when IPython was never imported)."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    return get_ipython() if callable(get_ipython) else None


def _html(result: object) -> str:
    return result_html(result)


def _text_width() -> int:
    """The terminal's width up to the report's full width (a kernel without a terminal gets the full width)."""
    from gradscope.terminal import REPORT_WIDTH

    columns = shutil.get_terminal_size((REPORT_WIDTH, 24)).columns
    return max(MIN_TEXT_WIDTH, min(columns, REPORT_WIDTH))


def _pretty(result: object, printer: Any, cycle: bool) -> None:
    """IPython's plain-text printers take the object, a pretty printer and whether it is a cycle."""
    printer.text(result_text(result, width=_text_width()).rstrip("\n"))


def register(display_formatter: Any) -> None:
    """Show every type of :data:`~gradscope.notebook.reports.VIEWS` through ``display_formatter`` (an IPython
    ``DisplayFormatter``, ``get_ipython().display_formatter``). Registering twice changes nothing."""
    html = display_formatter.formatters["text/html"]
    text = display_formatter.formatters["text/plain"]
    for view in VIEWS:
        html.for_type_by_name(view.module, view.name, _html)
        text.for_type_by_name(view.module, view.name, _pretty)


def unregister(display_formatter: Any) -> None:
    """Undo :func:`register`: the results show as IPython shows any object again."""
    for mime in MIME_TYPES:
        formatter = display_formatter.formatters[mime]
        for view in VIEWS:
            formatter.pop(view.qualified_name, None)


def activate() -> bool:
    """Register with the running IPython shell, if there is one; whether there was."""
    shell = running_shell()
    formatter = getattr(shell, "display_formatter", None)
    if formatter is None:
        return False
    register(formatter)
    return True


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext gradscope``: register with this shell (``import gradscope`` in a kernel already does)."""
    register(ipython.display_formatter)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext gradscope``: the results show as plain objects again."""
    unregister(ipython.display_formatter)


__all__ = [
    "MIME_TYPES",
    "MIN_TEXT_WIDTH",
    "activate",
    "load_ipython_extension",
    "register",
    "running_shell",
    "unload_ipython_extension",
    "unregister",
]
