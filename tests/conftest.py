"""Shared helpers for the engine tests: exact products from dense Jacobians."""

from __future__ import annotations

import numpy as np
import pytest

from gradscope.analysis import prepare, trajectory
from gradscope.jacobians import dense_jacobians


def exact_products(cell: str, **options: object) -> tuple[np.ndarray, object]:
    """``P_k`` for ``k = 1..T`` by plain dense matrix products, ``(T, S, S)``, and the prepared problem."""
    problem = prepare(cell, **options)
    jacobians = dense_jacobians(trajectory(problem))
    steps, size = jacobians.shape[0], jacobians.shape[1]
    products = np.empty_like(jacobians)
    running = np.eye(size)
    for k in range(1, steps + 1):
        running = running @ jacobians[steps - k]
        products[k - 1] = running
    return products, problem


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
