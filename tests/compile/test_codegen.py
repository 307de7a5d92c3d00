"""The shipped generated code is exactly what SymPy derives today, and keeps start-up free of SymPy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradscope.cells import get_cell
from gradscope.cells.spec import CELL_NAMES
from gradscope.compile import compile_cell
from gradscope.compile.codegen import lambdify_cell, render_module

GENERATED = Path(__file__).resolve().parents[2] / "gradscope" / "compile" / "generated.py"


def test_generated_module_is_current() -> None:
    assert GENERATED.read_text(encoding="utf-8") == render_module(), (
        "gradscope/compile/generated.py is stale: run `python -m gradscope.compile`"
    )


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_generated_and_live_code_agree(cell: str, rng: np.random.Generator) -> None:
    generated = compile_cell(cell)
    live = lambdify_cell(get_cell(cell))
    assert generated.origin == "generated" and live.origin == "live"
    G, C = generated.spec.num_gates, len(generated.spec.state)
    u, mm, prev = rng.standard_normal((7, G, 5)), rng.standard_normal((7, G, 5)), rng.standard_normal((7, C, 5))
    np.testing.assert_array_equal(generated.update(u, mm, prev), live.update(u, mm, prev))
    for method in ("state_partials", "input_partials"):
        a, b = getattr(generated, method)(u, mm, prev), getattr(live, method)(u, mm, prev)
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert generated.blocks == live.blocks


def test_analyze_does_not_import_sympy_matplotlib_or_torch() -> None:
    code = (
        "import sys, gradscope; gradscope.analyze('lstm', hidden_size=4, steps=5); "
        "print(sorted(m for m in ('sympy', 'matplotlib', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
