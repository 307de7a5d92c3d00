"""Sweep axes: ``NAME=START:STOP:COUNT`` texts, their values checked by kind, and the tasks' stable seeds.

Axes are written ``NAME=START:STOP:COUNT`` (``COUNT`` evenly spaced values, both ends included),
``NAME=START:STOP:COUNT:log`` (geometric spacing) or ``NAME=V1,V2,...`` (a list; the form for
``init`` and for mixing ``chrono`` with numbers in ``forget_bias``). Integer axes round to integers
and refuse duplicates. Names take ``_`` or ``-``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from gradscope.errors import ConfigError
from gradscope.params.init import INITS

#: The sweep document's schema; its name is part of every task's seed (:func:`task_seed`).
SWEEP_SCHEMA = "gradscope.sweep/1"

#: What each axis holds: ``"float"`` (>= 0 unless noted), ``"int"`` (>= 1), ``"init"`` or ``"forget_bias"``.
AXIS_KINDS: dict[str, str] = {
    "gain": "float",
    "forget_bias": "forget_bias",
    "hidden_size": "int",
    "steps": "int",
    "input_scale": "float",
    "init": "init",
}
#: Axis text for figures and tables.
AXIS_TEXT = {
    "gain": "init gain g",
    "forget_bias": "effective forget-gate bias b_f",
    "hidden_size": "hidden size H",
    "input_size": "input size I",
    "steps": "sequence length T",
    "input_scale": "input scale",
    "init": "initialisation",
}

Value = float | int | str


@dataclass(frozen=True)
class Axis:
    """One swept option and its values, in order."""

    name: str
    values: tuple[Value, ...]


def axis_name(text: str) -> str:
    """The canonical axis name (``forget-bias`` -> ``forget_bias``); a :class:`ConfigError` lists the valid ones."""
    name = text.strip().lower().replace("-", "_")
    if name not in AXIS_KINDS:
        raise ConfigError(f"cannot sweep {text!r} (valid: {', '.join(AXIS_KINDS)})")
    return name


def _number(axis: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError as error:
        raise ConfigError(f"{axis}: {text!r} is not a number") from error
    if not math.isfinite(value):
        raise ConfigError(f"{axis}: values must be finite, got {text!r}")
    return value


def checked_value(axis: str, value: Value) -> Value:
    """One value of ``axis``, converted to its type and range-checked."""
    kind = AXIS_KINDS[axis]
    if kind == "init":
        if value not in INITS:
            raise ConfigError(f"init: unknown init {value!r} (valid: {', '.join(INITS)})")
        return str(value)
    if kind == "forget_bias" and value == "chrono":
        return "chrono"
    number = _number(axis, value) if isinstance(value, str) else float(value)
    if kind == "int":
        rounded = round(number)
        if rounded < 1:
            raise ConfigError(f"{axis}: values must be >= 1, got {value!r}")
        return int(rounded)
    if kind == "float" and number < 0:
        raise ConfigError(f"{axis}: values must be >= 0, got {value!r}")
    return float(number)


def parse_axis(text: str) -> Axis:
    """An axis from ``NAME=START:STOP:COUNT[:log]`` or ``NAME=V1,V2,...`` (see the module docstring)."""
    name_text, sep, spec = text.partition("=")
    if not sep or not spec.strip():
        raise ConfigError(f"expected NAME=START:STOP:COUNT or NAME=V1,V2,..., got {text!r}")
    name, spec = axis_name(name_text), spec.strip()
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3].strip().lower() not in ("log", "lin")):
            raise ConfigError(f"{name}: expected START:STOP:COUNT or START:STOP:COUNT:log, got {spec!r}")
        if AXIS_KINDS[name] == "init":
            raise ConfigError(f"init is categorical: list the values, e.g. init={','.join(INITS)}")
        start, stop = _number(name, parts[0]), _number(name, parts[1])
        try:
            count = int(parts[2])
        except ValueError:
            count = 0
        if count < 1:
            raise ConfigError(f"{name}: COUNT must be a positive integer, got {parts[2]!r}")
        if len(parts) == 4 and parts[3].strip().lower() == "log":
            if start <= 0 or stop <= 0:
                raise ConfigError(f"{name}: a log-spaced axis needs START and STOP > 0, got {spec!r}")
            raw = np.geomspace(start, stop, count) if count > 1 else np.array([start])
        else:
            raw = np.linspace(start, stop, count) if count > 1 else np.array([start])
        values = tuple(checked_value(name, float(v)) for v in raw)
    else:
        values = tuple(checked_value(name, item.strip()) for item in spec.split(",") if item.strip())
        if not values:
            raise ConfigError(f"{name}: no values in {text!r}")
    if len(set(values)) != len(values):
        raise ConfigError(f"{name}: repeated values {list(values)} (integer axes round to integers)")
    return Axis(name, values)


def parse_axes(texts: Sequence[str]) -> tuple[Axis, ...]:
    """Several ``--vary`` texts; each name at most once."""
    axes = tuple(parse_axis(text) for text in texts)
    names = [axis.name for axis in axes]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"each option can be swept once; repeated: {', '.join(repeated)}")
    return axes


def _canonical(value: Value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    return repr(float(value))


def task_seed(seed: int, values: Mapping[str, Value], sample: int, schema: str = SWEEP_SCHEMA) -> int:
    """The seed of one task: a SHA-256 hash of the base seed, the swept values and the sample index.

    Values are first converted to their axis's type (so a gain of ``2`` and ``2.0`` hash alike) and
    sorted by name: independent of the order of the axes and of the execution order.
    Returns an integer in ``[0, 2^53)``, exact as a JSON number in every reader (JavaScript included).
    """
    key = ";".join(
        [
            schema,
            f"seed={int(seed)}",
            *(f"{n}={_canonical(checked_value(axis_name(n), values[n]))}" for n in sorted(values)),
            f"sample={sample}",
        ]
    )
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") >> 11
