"""The public surface: one function per command at the top level, the results their figures take, moved paths."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from matplotlib.figure import Figure

import gradscope
from gradscope import figures
from gradscope.studies import SerialExecutor


def test_every_public_name_resolves() -> None:
    for name in gradscope.__all__:
        assert getattr(gradscope, name) is not None, name


def test_each_command_has_its_function_returning_the_result_its_figure_takes() -> None:
    analysis = gradscope.analyze("lstm", steps=50)
    assert isinstance(analysis, gradscope.Analysis)
    assert isinstance(figures.profile_figure(analysis), Figure)
    spectrum = gradscope.lyapunov("rnn", exponents=3, steps=200, hidden_size=8)
    assert isinstance(spectrum, gradscope.LyapunovSpectrum) and spectrum.exponents.shape == (3,)
    assert isinstance(figures.lyapunov_figure(spectrum), Figure)
    comparison = gradscope.compare(["rnn", "gru"], hidden_size=4, steps=10)
    assert isinstance(comparison, gradscope.Comparison) and comparison.cells == ("rnn", "gru")
    assert isinstance(figures.compare_figure(comparison), Figure)
    ensembles = gradscope.compare(["rnn", "gru"], samples=2, hidden_size=4, steps=10)
    assert isinstance(ensembles, gradscope.EnsembleComparison)
    assert isinstance(figures.ensemble_figure(ensembles), Figure)
    result = gradscope.sweep("rnn", {"gain": [0.5, 1.0]}, hidden_size=4, steps=10, executor=SerialExecutor())
    assert isinstance(result, gradscope.SweepResult)
    assert isinstance(figures.sweep_rate_figure(result), Figure)
    assert gradscope.derive("gru").block("h", "h").row == "h"
    assert gradscope.check_formula("lstm", "dc/dc", "f_t").correct
    assert gradscope.verify("rnn", use_torch=False).passed


def test_a_problem_is_made_once_and_taken_by_every_study() -> None:
    problem = gradscope.make_problem("gru", hidden_size=5, steps=12, seed=4)
    direct = gradscope.analyze("gru", hidden_size=5, steps=12, seed=4)
    np.testing.assert_array_equal(gradscope.analyze(problem).log10_norm, direct.log10_norm)
    ensemble = gradscope.analyze_ensemble(problem, samples=2)
    np.testing.assert_allclose(ensemble.profiles[0], direct.log10_norm, rtol=1e-12, atol=1e-12)  # batched
    with pytest.raises(gradscope.ConfigError, match="not both"):
        gradscope.analyze(problem, seed=3)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("gradscope.ensemble", "gradscope.analysis.ensemble"),
        ("gradscope.checkpoints", "gradscope.files.checkpoints"),
        ("gradscope.products", "gradscope.engine.products"),
    ],
)
def test_moved_modules_still_import_with_a_warning(old: str, new: str) -> None:
    code = (
        "import warnings, importlib\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        "    warnings.simplefilter('always')\n"
        f"    module = importlib.import_module({old!r})\n"
        f"assert module.__name__ == {new!r}, module.__name__\n"
        f"assert any('moved to {new}' in str(w.message) for w in seen), [str(w.message) for w in seen]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_attribute_access_to_a_moved_module() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert gradscope.products.norm_profile is gradscope.engine.norm_profile
