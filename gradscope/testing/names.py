"""The names people give RNN parameters and gradients, and the role each name plays.

A role is one of :data:`ROLES`, optionally for one gate (``"weight_ih:f"``): the input weight
``W_ih``, the recurrent weight ``W_hh``, one weight on the concatenation ``[h; x]`` (``weight_cat``),
a single bias (``bias``: where PyTorch adds ``b_ih``; PyTorch's ``b_hh`` is then zero), PyTorch's two
biases, and a linear output layer (``weight_out``, ``bias_out``). Names are matched after
lower-casing and dropping ``_`` and a trailing ``l0``, so ``W_xh``, ``Wxh`` and ``weight_ih_l0`` are one name.

| role | names |
|---|---|
| ``weight_ih`` | ``Wxh``, ``W_ih``, ``Wx``, ``weight_ih_l0`` |
| ``weight_hh`` | ``Whh``, ``Wh``, ``weight_hh_l0`` |
| ``weight_cat`` | ``W`` (on ``[h; x]`` or ``[x; h]``) |
| ``bias`` | ``bh``, ``b``, ``bias`` |
| ``bias_ih``, ``bias_hh`` | ``b_ih``, ``b_hh``, ``bias_ih_l0``, ``bias_hh_l0`` |
| ``weight_out``, ``bias_out`` | ``Why``, ``Wy``, ``W_out``, ``weight_out``; ``by``, ``b_out``, ``bias_out`` |

Gated cells also take one array per gate: ``Wx<g>``/``Wh<g>`` (input and recurrent), ``W<g>`` (on the
concatenation, or the input weight when ``U<g>`` names the recurrent one) and ``b<g>``, with the gate
letters of the cell (LSTM ``i, f, g, o``, where ``c`` also names ``g``, the candidate; GRU ``r, z, n``,
where ``h`` also names ``n``). Any other name is mapped explicitly: ``names={"U": "weight_ih"}``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gradscope.cells.spec import CellSpec
from gradscope.errors import ParameterError

#: Every role a parameter can play.
ROLES = ("weight_ih", "weight_hh", "weight_cat", "bias", "bias_ih", "bias_hh", "weight_out", "bias_out")

#: Normalised names of each role's array when it holds every gate (the table of the module docstring).
ALIASES: Mapping[str, tuple[str, ...]] = {
    "weight_ih": ("wxh", "wih", "wx", "weightih", "weightx"),
    "weight_hh": ("whh", "wh", "weighthh", "weighth"),
    "weight_cat": ("w", "wcat", "weight"),
    "bias": ("bh", "b", "bias", "bx"),
    "bias_ih": ("bih", "biasih"),
    "bias_hh": ("bhh", "biashh"),
    "weight_out": ("why", "wy", "wout", "weightout", "whoutput"),
    "bias_out": ("by", "bout", "biasout"),
}

#: Other letters for a gate in per-gate names: the LSTM's candidate ``c`` (``g``), the GRU's ``h`` (``n``).
GATE_ALIASES: Mapping[str, Mapping[str, str]] = {"lstm": {"c": "g"}, "gru": {"h": "n"}}

#: Names of the gradients that are not parameters: the inputs and the initial state components.
SPECIAL_GRADIENTS: Mapping[str, tuple[str, ...]] = {
    "inputs": ("inputs", "xs", "x", "input"),
    "h0": ("h0", "hprev", "hinit", "hstart"),
    "c0": ("c0", "cprev", "cinit", "cstart"),
}


@dataclass(frozen=True)
class Role:
    """What one array is: a role of :data:`ROLES`, for every gate (``gate is None``) or for one gate."""

    kind: str
    gate: str | None = None

    def __str__(self) -> str:
        return self.kind if self.gate is None else f"{self.kind}:{self.gate}"


def normalise(name: str) -> str:
    """``"W_xh"`` -> ``"wxh"``, ``"weight_ih_l0"`` -> ``"weightih"``."""
    key = name.lower().replace("_", "").replace("-", "")
    return key[:-2] if key.endswith("l0") and len(key) > 2 else key


def parse_role(text: str, spec: CellSpec) -> Role:
    """An explicit role (``"weight_hh"``, ``"bias:f"``), or a :class:`ParameterError` listing the valid ones."""
    kind, _, gate = text.partition(":")
    if kind not in ROLES:
        raise ParameterError(f"names: unknown role {text!r} (valid: {', '.join(ROLES)}, optionally ':<gate>')")
    if gate and gate not in spec.gates:
        raise ParameterError(f"names: {text!r}: {spec.name} has no gate {gate!r} (gates: {', '.join(spec.gates)})")
    if gate and kind in ("weight_out", "bias_out"):
        raise ParameterError(f"names: {text!r}: the output layer has no gates")
    return Role(kind, gate or None)


def _gate_letters(spec: CellSpec) -> dict[str, str]:
    letters = {g: g for g in spec.gates} if spec.num_gates > 1 else {}
    return letters | dict(GATE_ALIASES.get(spec.name, {}))


def _per_gate(key: str, letters: Mapping[str, str], has_u: bool) -> Role | None:
    """The per-gate role of a normalised name, if it has the form of one."""
    alternatives = "|".join(sorted(letters, key=len, reverse=True))
    if not alternatives:
        return None
    if found := re.fullmatch(rf"w([xh])({alternatives})", key):
        return Role("weight_ih" if found.group(1) == "x" else "weight_hh", letters[found.group(2)])
    if found := re.fullmatch(rf"u({alternatives})", key):
        return Role("weight_hh", letters[found.group(1)])
    if found := re.fullmatch(rf"w({alternatives})", key):
        return Role("weight_ih" if has_u else "weight_cat", letters[found.group(1)])
    if found := re.fullmatch(rf"b({alternatives})", key):
        return Role("bias", letters[found.group(1)])
    return None


def assign_roles(spec: CellSpec, names: Iterable[str], explicit: Mapping[str, str] | None = None) -> dict[str, Role]:
    """The role of every parameter name, or one :class:`ParameterError` naming the unknown ones.

    Per-gate names are used when names of at least two different gates are present (so a GRU's
    ``Wxh`` is its candidate's input weight next to ``Wxz`` and ``Wxr``, and an RNN's input weight otherwise).
    """
    names = list(names)
    explicit = dict(explicit or {})
    stray = [n for n in explicit if n not in names]
    if stray:
        raise ParameterError(f"names: {', '.join(map(repr, stray))} not among the parameters ({', '.join(names)})")
    roles = {name: parse_role(text, spec) for name, text in explicit.items()}
    letters = _gate_letters(spec)
    rest = [n for n in names if n not in roles]
    has_u = any(re.fullmatch(r"u[a-z]", normalise(n)) for n in rest)
    gated = {n: r for n in rest if (r := _per_gate(normalise(n), letters, has_u)) is not None}
    if len({r.gate for r in gated.values()}) >= 2:
        roles |= gated
    by_alias = {alias: kind for kind, aliases in ALIASES.items() for alias in aliases}
    unknown = []
    for name in names:
        if name in roles:
            continue
        kind = by_alias.get(normalise(name))
        if kind is None:
            unknown.append(name)
        else:
            roles[name] = Role(kind)
    if unknown:
        raise ParameterError(_unknown_message(spec, unknown, names))
    return {name: roles[name] for name in names}


#: How the error message spells each role's names.
SPELLINGS: Mapping[str, tuple[str, ...]] = {
    "weight_ih": ("Wxh", "W_xh", "Wx", "weight_ih_l0"),
    "weight_hh": ("Whh", "W_hh", "Wh", "weight_hh_l0"),
    "weight_cat": ("W",),
    "bias": ("bh", "b_h", "b"),
    "bias_ih": ("b_ih", "bias_ih_l0"),
    "bias_hh": ("b_hh", "bias_hh_l0"),
    "weight_out": ("Why", "W_hy", "Wy", "weight_out"),
    "bias_out": ("by", "b_y", "bias_out"),
}


def _unknown_message(spec: CellSpec, unknown: list[str], names: list[str]) -> str:
    known = "; ".join(f"{kind}: {', '.join(spellings)}" for kind, spellings in SPELLINGS.items())
    spelled = [s for spellings in SPELLINGS.values() for s in spellings if len(s) > 2]
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, spelled, n=3, cutoff=0.6)
        guess = " or ".join(repr(c) for c in close)
        parts.append(f"{name!r}" + (f" (did you mean {guess}?)" if close else ""))
    return (
        f"{spec.name} parameters: unknown name{'s' if len(unknown) > 1 else ''} {', '.join(parts)}; known names "
        f"({known}), per-gate names like Wxf, Whf, bf, or give the role: names={{{unknown[0]!r}: 'weight_hh'}} "
        f"(roles: {', '.join(ROLES)})"
    )


def gradient_name(key: str, params: Iterable[str], state: Iterable[str]) -> str | None:
    """The parameter (or ``"inputs"``, ``"h0"``, ``"c0"``) a gradient key is the gradient of, or ``None``.

    A gradient has its parameter's name, optionally with a ``d``/``d_``/``grad_`` prefix or a ``_grad``
    suffix: ``dWxh``, ``Wxh`` and ``grad_Wxh`` all name ``Wxh``'s gradient.
    """
    params = list(params)
    candidates = [key]
    for prefix in ("d_", "grad_", "d"):
        if key.startswith(prefix) and len(key) > len(prefix):
            candidates.append(key[len(prefix) :])
    if key.endswith("_grad"):
        candidates.append(key[: -len("_grad")])
    for candidate in candidates:
        if candidate in params:
            return candidate
    allowed = {"inputs", *(f"{c}0" for c in state)}
    for candidate in candidates:
        for target, aliases in SPECIAL_GRADIENTS.items():
            if target in allowed and normalise(candidate) in aliases:
                return target
    return None


def gradient_suggestion(key: str, params: Iterable[str], state: Iterable[str]) -> str:
    """``" (did you mean 'dWhh'?)"`` for an unknown gradient key, or ``""``."""
    valid = [p for p in params] + [f"d{p}" for p in params] + ["inputs", *(f"d{c}0" for c in state)]
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
