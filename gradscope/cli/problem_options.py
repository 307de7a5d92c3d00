"""The problem options as one parameter: a command names the ones it takes, and receives them as one value.

A command declares ``options: ProblemArguments`` and is decorated with ``@problem_options("hidden_size",
"steps", ...)``; typer then sees the named options (the aliases of :mod:`gradscope.cli.options`, in that
order, where the placeholder stands) and the command receives them gathered in one
:class:`ProblemArguments`. A new problem option is one field and one alias, and reaches every command that
names it.
"""

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from gradscope.cli.options import (
    C0,
    H0,
    Y0,
    Bidirectional,
    Dtype,
    ForgetBias,
    Gain,
    HiddenSize,
    Init,
    Inputs,
    InputScale,
    InputSize,
    Norm,
    NumLayers,
    OutputSize,
    Prefix,
    Samples,
    Seed,
    Steps,
    TMax,
    UpdateBias,
    Weights,
)
from gradscope.cli.problems import ProblemArguments

Command = TypeVar("Command", bound=Callable[..., Any])

#: Each problem option's typer annotation, by its :class:`ProblemArguments` field.
OPTION_ANNOTATIONS: dict[str, Any] = {
    "hidden_size": HiddenSize,
    "input_size": InputSize,
    "output_size": OutputSize,
    "steps": Steps,
    "seed": Seed,
    "init": Init,
    "gain": Gain,
    "input_scale": InputScale,
    "forget_bias": ForgetBias,
    "update_bias": UpdateBias,
    "t_max": TMax,
    "num_layers": NumLayers,
    "bidirectional": Bidirectional,
    "norm": Norm,
    "dtype": Dtype,
    "weights": Weights,
    "prefix": Prefix,
    "inputs": Inputs,
    "h0": H0,
    "c0": C0,
    "y0": Y0,
    "samples": Samples,
}
#: Option names that travel together, for ``problem_options(*SIZES, *DRAW, ...)``.
SIZES = ("hidden_size", "input_size", "steps")
DRAW = ("seed", "init", "gain")
PRECISION = ("norm", "dtype")
FILES = ("weights", "prefix", "inputs", "h0", "c0", "y0")
#: The keep gates' biases (LSTM f, GRU z) and chrono's T_max.
GATE_BIASES = ("forget_bias", "update_bias", "t_max")
#: Random stacked and bidirectional networks.
STRUCTURE = ("num_layers", "bidirectional")
#: Every model option beyond ``DRAW``: what a command that draws models names, ``problem_options(*DRAW, *MODEL)``.
MODEL = (*GATE_BIASES, *STRUCTURE)

_DEFAULTS = {field.name: field.default for field in dataclasses.fields(ProblemArguments)}
assert set(OPTION_ANNOTATIONS) == set(_DEFAULTS), "every ProblemArguments field is an option, and only those"


def problem_options(*names: str, **variants: Any) -> Callable[[Command], Command]:
    """Give a command the problem options ``names``, gathered into its ``ProblemArguments`` parameter.

    ``variants`` replace an option's annotation for this command (a help text of its own); the default is
    always the field's default in :class:`ProblemArguments`.
    """
    unknown = [name for name in (*names, *variants) if name not in OPTION_ANNOTATIONS]
    if unknown:
        raise TypeError(f"problem_options: unknown option(s) {unknown}; known: {sorted(OPTION_ANNOTATIONS)}")

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command)
        slots = [p for p in signature.parameters.values() if p.annotation is ProblemArguments]
        if len(slots) != 1:
            raise TypeError(f"{command.__name__}: needs exactly one parameter annotated ProblemArguments")
        slot = slots[0]
        expanded = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=variants.get(name, OPTION_ANNOTATIONS[name]),
                default=_DEFAULTS[name],
            )
            for name in names
        ]
        parameters: list[inspect.Parameter] = []
        for parameter in signature.parameters.values():
            if parameter is slot:
                parameters += expanded
            else:
                parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))

        @functools.wraps(command)
        def run(**given: Any) -> Any:
            values = {name: given.pop(name) for name in names}
            return command(**given, **{slot.name: ProblemArguments(**values)})

        run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": signature.return_annotation}
        return run  # type: ignore[return-value]

    return decorate
