"""Calling the user's own backward function: the arguments it takes, and the gradients it returns.

A backward function is called ``backward(params, inputs, targets, h0)`` (for the LSTM, with ``c0`` as a
fifth argument when it takes one), with copies of the user's parameters under their own names and
shapes, and the user's own ``inputs``, ``targets`` and initial state (zeros shaped like the user's
vectors when none was given). It returns the gradients under the parameters' names (``dWxh`` or
``Wxh``), or a tuple holding exactly one such mapping (``(loss, grads, h_last)``).

It is the user's code, named by the user, run as pytest runs a test.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradscope.errors import ParameterError
from gradscope.testing.check_problem import CheckProblem

#: ``backward(params, inputs, targets, h0[, c0]) -> grads``.
BackwardFunction = Callable[..., Any]


def accepts(function: Callable[..., Any], count: int) -> bool:
    """Whether ``function`` can be called with ``count`` positional arguments."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return False
    try:
        signature.bind(*range(count))
    except TypeError:
        return False
    return True


def _state(problem: CheckProblem, name: str) -> Any:
    given = problem.raw.get(name)
    if given is not None:
        return copy.deepcopy(given)
    hidden = problem.layout.hidden_size
    column = any(
        len(s) == 2 and s[1] == 1
        for n, s in problem.layout.shapes.items()
        if problem.layout.roles[n].kind.startswith("bias")
    )
    return np.zeros((hidden, 1) if column else hidden)


def call_backward(function: BackwardFunction, problem: CheckProblem) -> Mapping[str, Any]:
    """Run the user's backward on ``problem``; returns the gradients mapping it gave back."""
    params = {name: array.copy() for name, array in problem.mapped.arrays.items()}
    arguments = [
        params,
        copy.deepcopy(problem.raw["inputs"]),
        copy.deepcopy(problem.raw["targets"]),
        _state(problem, "h0"),
    ]
    if "c" in problem.state and accepts(function, 5):
        arguments.append(_state(problem, "c0"))
    if not accepts(function, len(arguments)):
        raise ParameterError(
            f"grads: your backward {_name(function)} must take (params, inputs, targets, h0"
            f"{'[, c0]' if 'c' in problem.state else ''}); wrap it, e.g. "
            "grads=lambda p, x, y, h0: my_backward(x, y, h0, p)"
        )
    return gradients_of(function(*arguments), _name(function))


def gradients_of(result: Any, where: str = "grads") -> Mapping[str, Any]:
    """The gradients mapping in what a backward returned: the mapping itself, or the one mapping in a tuple."""
    if isinstance(result, Mapping):
        return result
    if isinstance(result, (tuple, list)):
        found = [item for item in result if isinstance(item, Mapping)]
        if len(found) == 1:
            return found[0]
        raise ParameterError(
            f"{where} returned a {type(result).__name__} with {len(found)} mappings; return the gradients as one dict"
        )
    raise ParameterError(f"{where} returned {type(result).__name__}; expected a dict of gradients by name")


def _name(function: Callable[..., Any]) -> str:
    return getattr(function, "__qualname__", None) or type(function).__name__
