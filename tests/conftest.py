"""Shared helpers for the engine tests: exact products from dense Jacobians, a cell written only as data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import sympy

from gradscope.analysis.problem import make_problem, trajectory
from gradscope.cells import Cell, m, now, prev, u
from gradscope.cells.activations import sigmoid
from gradscope.engine import products as engine_products
from gradscope.engine.coefficients import dense_jacobians
from gradscope.i18n import set_language
from gradscope.params.init import haar_orthogonal


def exact_products(cell: str, **options: object) -> tuple[np.ndarray, object]:
    """``P_k`` for ``k = 1..T`` by plain dense matrix products, ``(T, S, S)``, and the prepared problem."""
    problem = make_problem(cell, **options)
    jacobians = dense_jacobians(trajectory(problem))
    steps, size = jacobians.shape[0], jacobians.shape[1]
    products = np.empty_like(jacobians)
    running = np.eye(size)
    for k in range(1, steps + 1):
        running = running @ jacobians[steps - k]
        products[k - 1] = running
    return products, problem


def with_singular_values(singular: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``U diag(singular) W^T`` with Haar-random ``U``, ``W``: ``(S, S)``."""
    size = singular.size
    return (haar_orthogonal(size, rng) * singular) @ haar_orthogonal(size, rng).T


def exact_log10_norms(cell: str, order: int | str = 2, **options: object) -> np.ndarray:
    """``log10 ||P_k||`` for ``k = 1..T`` from dense products rescaled at every step (``-inf`` for an
    exactly zero product): plain products underflow when the gradient vanishes fast enough."""
    jacobians = dense_jacobians(trajectory(make_problem(cell, **options)))
    steps, size = jacobians.shape[0], jacobians.shape[1]
    out = np.full(steps, -np.inf)
    running, log10_scale = np.eye(size), 0.0
    for k in range(1, steps + 1):
        running = running @ jacobians[steps - k]
        largest = np.abs(running).max()
        if largest == 0.0:
            break
        running /= largest
        log10_scale += np.log10(largest)
        out[k - 1] = np.log10(np.linalg.norm(running, ord=order)) + log10_scale
    return out


@pytest.fixture(params=["gram", "tracker"])
def spectral_route(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test twice: narrow products get their spectral norm from the dense Gram matrix
    (products.EXACT_BELOW), and once more with the certified block iteration forced at every width."""
    if request.param == "tracker":
        monkeypatch.setattr(engine_products, "EXACT_BELOW", 0)
    return request.param


@pytest.fixture(autouse=True)
def _english_unless_asked(monkeypatch: pytest.MonkeyPatch):
    """Every test reads English, whatever the machine's locale (LANGUAGE comes first); a test that wants
    Chinese asks for it, and no test leaves its language to the next."""
    monkeypatch.setenv("LANGUAGE", "en")
    set_language(None)
    yield
    set_language(None)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def minimal_gated_unit() -> Cell:
    """A minimal gated unit (one gate shared for forgetting and resetting), written only as data.

    ``f = sigmoid(u_f + m_f)``, ``n = tanh(u_n + f * m_n)``, ``h' = (1 - f) h + f n``.
    """
    f_t, n_t, h_t = now("f"), now("n"), now("h")
    return Cell(
        name="mgu",
        title="minimal gated unit",
        gates=("f", "n"),
        state=("h",),
        definitions=(
            (f_t, sigmoid(u("f") + m("f"))),
            (n_t, sympy.tanh(u("n") + f_t * m("n"))),
            (h_t, (1 - f_t) * prev("h") + f_t * n_t),
        ),
        updates=(h_t,),
    )


@pytest.fixture
def serial(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run a command's studies (sweeps, checkpoints) in this process: no worker start-up. The tests that check
    real worker processes do not take it."""
    from gradscope.studies import executors
    from gradscope.studies.executors import SerialExecutor

    def make(
        *, scheduler: object = None, workers: object = None, chunk_size: object = None, **_: object
    ) -> SerialExecutor:
        assert scheduler is None
        return SerialExecutor()

    monkeypatch.setattr(executors, "make_executor", make)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """After a run that included ``tests/robustness``: the fault-injection cases tried per kind (each one passed
    the contract of ``tests/robustness/fault_helpers.py``; a case that breaks it fails its test, uncounted)."""
    import sys

    helpers = sys.modules.get("fault_helpers")
    if helpers is None or not helpers.CASES:
        return
    failed = [report for report in terminalreporter.stats.get("failed", []) if "robustness" in report.nodeid]
    counts = ", ".join(f"{kind} {count}" for kind, count in sorted(helpers.CASES.items()))
    verdict = "all clean" if not failed else f"{len(failed)} tests FAILED"
    terminalreporter.write_line(
        f"robustness cases tried per kind: {counts}; total {sum(helpers.CASES.values())}, {verdict}"
    )
