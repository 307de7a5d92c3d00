"""Unit-test hand-written backpropagation through time against exact reference gradients.

>>> import numpy as np
>>> from gradscope.testing import assert_bptt_close, bptt_reference
>>> rng = np.random.default_rng(0)
>>> params = {"weight_ih_l0": rng.normal(size=(3, 2)), "weight_hh_l0": rng.normal(size=(3, 3))}
>>> inputs, upstream = rng.normal(size=(4, 2)), rng.normal(size=(4, 3))
>>> grads = bptt_reference("rnn", params, inputs, upstream)  # what your BPTT should return
>>> assert_bptt_close("rnn", params, inputs, upstream, grads)  # silent when they match

* :func:`check_bptt`: the five-line check of a hand-written BPTT, in the user's own names and layout
  (``Wxh``, ``Whh``, ``bh``, ``Why``, ``by``; column vectors; ``[h; x]`` weights; any gate order), with the
  loss built in (``loss="softmax_ce"``, ``"mse"``, ...; output layer included); its message names the
  time step where the per-step terms first go wrong, and hints that fire only on evidence.
  :func:`diagnose_bptt` is its non-raising twin; :func:`from_arrays` is the adapter it uses.
* :func:`bptt_reference`: the exact gradients (see :mod:`gradscope.engine.bptt`).
* :func:`assert_bptt_close`: raises :class:`GradientMismatch` (an ``AssertionError``) naming each
  wrong key, its worst entry (gate and unit, or time step), both values, the relative error and the
  tolerance; :func:`compare_bptt` is the non-raising twin and returns a :class:`BPTTComparison`.
* :func:`check_formula`: confirm or refute a hand-derived Jacobian block (e.g. ``d c_t / d c_{t-1}``)
  symbolically, with a numeric counter-example (see :mod:`gradscope.testing.formula_check`; needs SymPy,
  which is imported only when it is first asked for); :func:`check_equation` checks one line as
  ``gradscope derive`` prints a block (``"dc_t/dc_{t-1} = diag(f_t)"``).

An entry passes when ``|actual - expected| <= atol + rtol * |expected|`` (NumPy's rule), with
``rtol`` and ``atol`` taken from :data:`DEFAULT_TOLERANCES` by the dtype of the array checked,
unless given.
"""

from __future__ import annotations

import importlib
from typing import Any

from gradscope.testing.adapter import from_arrays
from gradscope.testing.check import check_bptt, diagnose_bptt
from gradscope.testing.comparison import (
    BPTTComparison,
    GradientMismatch,
    KeyComparison,
    assert_bptt_close,
    compare_arrays,
    compare_bptt,
)
from gradscope.testing.diagnosis import BPTTDiagnosis
from gradscope.testing.layouts import ArrayLayout, MappedParams
from gradscope.testing.reference import bptt_reference
from gradscope.testing.timeline import Timeline
from gradscope.testing.tolerance import DEFAULT_TOLERANCES, Tolerance, default_tolerance

#: The formula check lives with the SymPy code, imported on first use to keep this package light.
_FORMULA = (
    "CounterExample",
    "FormulaCheck",
    "FormulaError",
    "FormulaMismatch",
    "assert_formula",
    "check_equation",
    "check_formula",
)


def __getattr__(name: str) -> Any:
    if name in _FORMULA:
        return getattr(importlib.import_module("gradscope.testing.formula_check"), name)
    raise AttributeError(f"module 'gradscope.testing' has no attribute {name!r}")


__all__ = [
    "DEFAULT_TOLERANCES",
    "ArrayLayout",
    "BPTTComparison",
    "BPTTDiagnosis",
    "GradientMismatch",
    "KeyComparison",
    "MappedParams",
    "Timeline",
    "Tolerance",
    "assert_bptt_close",
    "assert_formula",
    "bptt_reference",
    "check_bptt",
    "check_equation",
    "check_formula",
    "compare_arrays",
    "compare_bptt",
    "default_tolerance",
    "diagnose_bptt",
    "from_arrays",
]
