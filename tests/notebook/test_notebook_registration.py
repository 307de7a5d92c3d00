"""When the display formatters are registered: only inside a running IPython (``import gradscope`` there, or
``%load_ext gradscope``), by type name, importing nothing heavy; never IPython itself outside it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gradscope
from gradscope.notebook import MIME_TYPES, VIEWS, register, result_html, result_text, unregister
from gradscope.notebook.ipython import _text_width

ROOT = Path(__file__).resolve().parents[2]


def python(code: str) -> str:
    """Run ``code`` in a fresh interpreter on this source tree; its stdout (it must exit cleanly)."""
    env = os.environ | {"PYTHONPATH": str(ROOT), "LANGUAGE": "en"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_outside_ipython_nothing_is_registered_and_ipython_is_never_imported() -> None:
    out = python("import gradscope, sys; print('IPython' in sys.modules, 'gradscope.notebook' in sys.modules)")
    assert out == "False False"


def test_ipython_imported_without_a_shell_registers_nothing() -> None:
    out = python(
        """
        import IPython, gradscope
        from gradscope.notebook import activate
        print(IPython.get_ipython() is None, activate())
        """
    )
    assert out == "True False"


def test_import_inside_a_running_shell_registers_every_type_and_imports_nothing_heavy() -> None:
    pytest.importorskip("IPython")
    out = python(
        """
        import sys
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance()
        before = set(sys.modules)
        import gradscope
        heavy = sorted({m.split('.')[0] for m in set(sys.modules) - before} & {'rich', 'matplotlib', 'sympy', 'dask'})
        html = shell.display_formatter.formatters['text/html']
        print(heavy, sorted(html.deferred_printers) == sorted((v.module, v.name) for v in gradscope.notebook.VIEWS))
        result = gradscope.analyze('rnn', hidden_size=3, steps=5)
        data, _ = shell.display_formatter.format(result)
        print(data['text/html'] == gradscope.notebook.result_html(result), data['text/plain'].splitlines()[0])
        """
    )
    registered, shown = out.splitlines()
    assert registered == "[] True"
    expected = gradscope.analyze("rnn", hidden_size=3, steps=5)
    assert shown == f"True {result_text(expected).splitlines()[0]}"


def test_load_ext_and_unload_ext() -> None:
    pytest.importorskip("IPython")
    out = python(
        """
        import IPython, gradscope  # no shell yet: nothing registered
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance()
        result = gradscope.check_formula('lstm', 'dc/dc', 'f_t')
        print('text/html' in shell.display_formatter.format(result)[0])
        shell.run_line_magic('load_ext', 'gradscope')
        print('text/html' in shell.display_formatter.format(result)[0])
        shell.run_line_magic('unload_ext', 'gradscope')
        print('text/html' in shell.display_formatter.format(result)[0])
        """
    )
    assert out.splitlines() == ["False", "True", "False"]


def test_a_display_formatter_shows_the_html_and_the_report_text() -> None:
    formatters = pytest.importorskip("IPython.core.formatters")
    display = formatters.DisplayFormatter()
    check = gradscope.check_formula("lstm", "dc/dc", "f_t")
    plain_before = display.format(check)[0]["text/plain"]
    assert plain_before.startswith("FormulaCheck(")  # the dataclass's repr: nothing registered yet
    register(display)
    register(display)  # twice changes nothing
    data, _ = display.format(check)
    assert data["text/html"] == result_html(check)
    assert data["text/plain"] == result_text(check, width=_text_width()).rstrip("\n")
    assert data["text/plain"].startswith("CORRECT  lstm: ")
    unregister(display)
    for mime in MIME_TYPES:
        assert not set(display.formatters[mime].deferred_printers) & {(view.module, view.name) for view in VIEWS}
    assert display.format(check)[0] == {"text/plain": plain_before}
