"""Parsed formulas as Jacobian blocks: sums of words in the weight matrices with per-unit coefficients.

Every block ``gradscope derive`` prints is a sum of *terms* ``diag(a_0) W_1 diag(a_1) W_2 ... W_k diag(a_k)``
(numerator layout): ``diag(f_t) W_hf`` (k = 1), ``diag(z_t)`` (k = 0), and, for a gate that projects a
quantity of the step (Cho's GRU, MGU), ``diag(A) W_hn (diag(B) W_hr + diag(C))``, two terms of which one
has k = 2. Entry ``[i, j]`` of such a term is ``sum_{k_1..} a_0[i] W_1[i, k_1] a_1[k_1] ... a_k[j]``: it is
fixed by the *word* ``(W_1, ..., W_k)`` and the coefficient ``a_0(slot 0) a_1(slot 1) ... a_k(slot k)``, a
function of the per-unit quantities at ``k + 1`` units (*slots*: the row unit, the units in between, the
column unit). Terms with the same word add their coefficients, so a block is a :data:`WordForm`
``{word: coefficient}``, and two blocks are equal for every weight matrix exactly when their forms are.

:func:`word_form` reads a parsed formula (:mod:`gradscope.symbolic.formula_parser`) as that form, in SymPy
(slot ``s`` of symbol ``x`` is the symbol ``x@s``; slot 0 is ``x`` itself) or evaluated with NumPy;
:func:`block_form` gives a derived :class:`~gradscope.symbolic.blocks.JacobianBlock`'s form;
:func:`matrix_value` evaluates a formula as a dense matrix and :func:`node_text` writes it back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import sympy

from gradscope.cells.activations import sigmoid
from gradscope.cells.cell import Cell, now
from gradscope.cells.expressions import FUNCTIONS, rational
from gradscope.cells.formula import Node
from gradscope.symbolic.blocks import JacobianBlock, ReadoutBlock

#: A word: the weight matrices of a term, left to right (``()`` for the diagonal).
Word = tuple[str, ...]
#: A block ``sum_w term(w)`` as ``{word: coefficient over the slots 0..len(word)}``.
WordForm = dict[Word, Any]

#: Longest word and most words a formula may make (``(W_hr + W_hz)**16`` would be 65536 words): past
#: them the formula is compared as a dense matrix instead.
MAX_WORD = 6
MAX_WORDS = 64


class NotLinear(Exception):  # noqa: N818 - a signal to the check, not a user's error
    """The formula is a matrix, but not a sum of words: a transposed weight block, or too many words."""


# ------------------------------------------------------------------------------------------ slots


def slot_name(name: str, slot: int) -> str:
    """The name of quantity ``name`` at slot ``slot`` (``name`` itself at slot 0)."""
    return name if slot == 0 else f"{name}@{slot}"


def slot_of(name: str) -> tuple[str, int]:
    """``("f_t", 1)`` from ``"f_t@1"``."""
    base, _, slot = name.partition("@")
    return base, int(slot or 0)


def shifted(expression: Any, slot: int) -> Any:
    """A slot-0 SymPy expression with every symbol moved to ``slot``."""
    if slot == 0 or not isinstance(expression, sympy.Basic):
        return expression
    return expression.xreplace({s: sympy.Symbol(slot_name(str(s), slot)) for s in expression.free_symbols})


def slots_used(expression: Any) -> set[int]:
    """The slots whose symbols ``expression`` contains."""
    if not isinstance(expression, sympy.Basic):
        return set()
    return {slot_of(str(s))[1] for s in expression.free_symbols}


def is_plain(form: WordForm) -> bool:
    """Whether ``form`` is ``sum_g diag(a_g) W_g + diag(d)``: words of at most one matrix, coefficients
    that read the row unit only (an exact form)."""
    return all(len(word) <= 1 and slots_used(v) <= {0} for word, v in form.items())


def term_name(word: Word) -> str:
    """``"diag(.)"``, ``"diag(.) W_hf"``, ``"diag(.) W_hn diag(.) W_hr"``."""
    return "diag(.) " + " diag(.) ".join(word) if word else "diag(.)"


# ------------------------------------------------------------------------------------- read a tree


def word_form(node: Node, leaf: Callable[[str, int], Any], exact: bool) -> WordForm:
    """The block a parsed formula denotes, as :data:`WordForm`.

    ``leaf(name, slot)`` gives a symbol's value at a slot: a SymPy symbol when ``exact`` (SymPy
    coefficients), else a NumPy array of points (the coefficients evaluated there, with NumPy's functions).

    Raises:
        NotLinear: a transposed weight block, or more than :data:`MAX_WORD` matrices in a row or
            :data:`MAX_WORDS` words.
    """
    cache: dict[tuple[int, int], WordForm] = {}

    def scalar(value: Any) -> Any:
        return rational(value) if exact else float(value)

    def product(left: WordForm, right: Callable[[int], WordForm], offset: int) -> WordForm:
        out: WordForm = {}
        for lw, lv in left.items():
            for rw, rv in right(offset + len(lw)).items():
                word = lw + rw
                if len(word) > MAX_WORD:
                    raise NotLinear(f"a product of more than {MAX_WORD} weight matrices")
                out[word] = out.get(word, 0) + lv * rv
        if len(out) > MAX_WORDS:
            raise NotLinear(f"more than {MAX_WORDS} products of weight matrices")
        return out

    def walk(n: Node, offset: int) -> WordForm:
        key = (id(n), offset)
        if key not in cache:
            cache[key] = read(n, offset)
        return cache[key]

    def read(n: Node, offset: int) -> WordForm:
        kind, args = n.kind, n.args
        if kind == "num":
            return {(): scalar(n.value)}
        if kind == "sym":
            return {(): leaf(n.value, offset)}
        if kind == "mat":
            return {(n.value,): 1}
        if kind == "neg":
            return {k: -v for k, v in walk(args[0], offset).items()}
        if kind in ("+", "-"):
            out = dict(walk(args[0], offset))
            for k, v in walk(args[1], offset).items():
                out[k] = out.get(k, 0) + (v if kind == "+" else -v)
            return out
        if kind == "*":
            return product(walk(args[0], offset), lambda o: walk(args[1], o), offset)
        if kind == "/":  # the parser refuses a weight matrix in a denominator
            return {k: v / walk(args[1], offset + len(k))[()] for k, v in walk(args[0], offset).items()}
        if kind == "pow":
            base = walk(args[0], offset)
            if set(base) == {()}:
                return {(): base[()] ** scalar(n.value)}
            power = int(n.value)  # a positive integer: the parser refuses other powers of a matrix

            def times(count: int, at: int) -> WordForm:
                here = walk(args[0], at)
                return here if count == 1 else product(here, lambda o: times(count - 1, o), at)

            return times(power, offset)
        parts = [walk(a, offset) for a in args]
        if n.value == "transpose":
            if set(parts[0]) != {()}:
                raise NotLinear("a transposed weight matrix")
            return parts[0]
        function = FUNCTIONS[n.value]
        return {(): (function.exact if exact else function.numeric)(*[p[()] for p in parts])}

    return walk(node, 0)


def exact_form(node: Node) -> WordForm:
    """A parsed formula's block with exact SymPy coefficients (zero terms left out, the diagonal kept)."""
    form = word_form(node, lambda name, slot: sympy.Symbol(slot_name(name, slot)), exact=True)
    out = {k: sympy.sympify(v) for k, v in form.items()}
    return {k: v for k, v in out.items() if v != 0 or k == ()} | {(): out.get((), sympy.Integer(0))}


def block_form(block: JacobianBlock | ReadoutBlock) -> WordForm:
    """A derived block's form: ``diag(D_g) W_{col g}`` and, for a gate ``n`` that projects ``q_t``,
    ``diag(D_n) W_{col n} (sum_g diag(dq/dm_g) W_{col g} + diag(dq/dcol))``, and the diagonal; for a cell
    that feeds its output back, ``diag(rho') W_hy sum_g diag(D_g) W_yg``."""
    if isinstance(block, ReadoutBlock):
        terms = {("W_hy", f"W_{block.col}{g}"): block.readout * shifted(c, 1) for g, c in block.hidden_terms}
        return terms | {(): sympy.Integer(0)}
    form: WordForm = {(f"W_{block.col}{g}",): c for g, c in block.projection_terms}
    for term in block.inner_terms:
        outer = f"W_{block.col}{term.gate}"
        for g, c in term.read_terms:
            form[(outer, f"W_{block.col}{g}")] = term.coefficient * shifted(c, 1)
        if term.read_diagonal != 0:
            form[(outer,)] = term.coefficient * shifted(term.read_diagonal, 1)
    form[()] = sympy.sympify(block.diagonal)
    return form


# ------------------------------------------------------------------------------------ dense values


def matrix_value(node: Node, values: Mapping[str, np.ndarray], weights: Mapping[str, np.ndarray]) -> np.ndarray:
    """The formula as a dense matrix, for per-unit ``values`` and ``weights`` by matrix name (``"W_hf"``):
    ``(H, H)`` blocks with ``(H,)`` values, or, for a cell that feeds its output back, ``W_hy`` ``(O, H)`` and
    ``W_yh`` ``(H, O)`` with values of the units they act on."""

    def diag(vector: np.ndarray, size: int) -> np.ndarray:
        return np.diag(np.broadcast_to(vector, (size,)))

    def walk(n: Node) -> tuple[bool, np.ndarray]:  # (is_matrix, a matrix or per-unit values (0-d for numbers))
        if n.kind == "num":
            return False, np.asarray(float(n.value))
        if n.kind == "sym":
            return False, np.asarray(values[n.value], dtype=float)
        if n.kind == "mat":
            return True, np.asarray(weights[n.value], dtype=float)
        parts = [walk(a) for a in n.args]
        if n.kind == "neg":
            return parts[0][0], -parts[0][1]
        if n.kind in ("+", "-"):
            (lm, lv), (rm, rv) = parts
            lv = lv if lm or not rm else diag(lv, rv.shape[0])
            rv = rv if rm or not lm else diag(rv, lv.shape[0])
            return lm or rm, lv + rv if n.kind == "+" else lv - rv
        if n.kind in ("*", "/"):
            (lm, lv), (rm, rv) = parts
            if n.kind == "/":
                rv = 1.0 / rv
            if lm and rm:
                return True, lv @ rv
            if lm:
                return True, lv * np.broadcast_to(rv, (lv.shape[1],))[None, :]
            if rm:
                return True, np.broadcast_to(lv, (rv.shape[0],))[:, None] * rv
            return False, lv * rv
        if n.kind == "pow":
            is_matrix, base = parts[0]
            if is_matrix:
                return True, np.linalg.matrix_power(base, int(n.value))
            return False, base ** float(n.value)
        if n.value == "transpose":
            return parts[0][0], parts[0][1].T
        return False, np.asarray(FUNCTIONS[n.value].numeric(*[p[1] for p in parts]), dtype=float)

    size = max(np.shape(v)[0] for v in weights.values())
    with np.errstate(all="ignore"):
        is_matrix, value = walk(node)
    return value if is_matrix else diag(value, size)


# ------------------------------------------------------------------------------------------- text


def node_text(node: Node) -> str:
    """The parsed formula written back as text (fully parenthesised where it matters)."""
    if node.kind == "num":
        return sympy.sstr(rational(node.value))
    if node.kind in ("sym", "mat"):
        return node.value
    if node.kind == "neg":
        return f"-{_wrapped(node.args[0])}"
    if node.kind in ("+", "-", "*", "/"):
        return f"{_wrapped(node.args[0])} {node.kind} {_wrapped(node.args[1])}"
    if node.kind == "pow":
        return f"{_wrapped(node.args[0])}**{sympy.sstr(rational(node.value))}"
    return f"{node.value}({', '.join(node_text(a) for a in node.args)})"


def _wrapped(node: Node) -> str:
    text = node_text(node)
    return f"({text})" if node.kind in ("+", "-", "*", "/", "neg") else text


def _factors(coefficient: sympy.Expr, slots: int) -> list[sympy.Expr] | None:
    """``coefficient`` as ``a_0(slot 0) * ... * a_k(slot k)`` (each back in slot-0 symbols), or ``None``."""
    candidates = [coefficient]
    if sympy.count_ops(coefficient) <= PROOF_OPERATIONS:  # factoring a large sum can take long: then no picture
        candidates.append(sympy.factor(coefficient))
    for candidate in candidates:
        factors = [sympy.Integer(1)] * slots
        for factor in sympy.Mul.make_args(candidate):
            used = slots_used(factor)
            if len(used) > 1:
                break
            slot = used.pop() if used else 0
            factors[slot] *= factor
        else:
            return [f.xreplace({s: sympy.Symbol(slot_of(str(s))[0]) for s in f.free_symbols}) for f in factors]
    return None


def render_form(form: WordForm) -> str | None:
    """A block's form as text, ``diag(...) W_hf + diag(...) W_hn diag(...) W_hr + diag(...)``; ``None`` when a
    coefficient does not split into one factor per slot (a sum of such terms with the same word)."""
    parts = []
    for word, value in form.items():
        if not word:
            continue
        factors = _factors(value, len(word) + 1)
        if factors is None:
            return None
        text = f"diag({sympy.sstr(factors[0])})"
        for matrix, factor in zip(word, factors[1:], strict=True):
            text += f" {matrix}" + (f" diag({sympy.sstr(factor)})" if factor != 1 else "")
        parts.append(text)
    if form.get((), 0) != 0 or not parts:
        if slots_used(form.get((), 0)) - {0}:
            return None
        parts.append(f"diag({sympy.sstr(form.get((), 0))})")
    return " + ".join(parts)


def symbols_in(*expressions: Any) -> tuple[str, ...]:
    """The names of the free symbols of the SymPy expressions among ``expressions``, sorted."""
    names: set[str] = set()
    for expression in expressions:
        if isinstance(expression, sympy.Basic):
            names |= {str(s) for s in expression.free_symbols}
    return tuple(sorted(names))


# ------------------------------------------------------------------------------------------ proofs

#: Symbolic proofs are attempted on differences of at most this many operations, with integer
#: powers of at most this size: within them a rational normal form (``cancel``) is fast, while
#: ``sympy.simplify`` can take ten minutes on a 12-operation difference holding a 16th power.
PROOF_OPERATIONS = 80
PROOF_POWER = 4


def provably_zero(difference: sympy.Expr) -> bool:
    """Whether ``difference`` is 0 by a bounded symbolic route: its rational normal form, then that of
    its rewriting in exponentials (``sech(x)**2 - 1 + tanh(x)**2``). ``False`` means "not proven"
    (also for differences too large to try)."""
    if difference == 0:
        return True
    if sympy.count_ops(difference) > PROOF_OPERATIONS or not all(
        power.exp.is_Rational and power.exp.q in (1, 2) and abs(power.exp) <= PROOF_POWER
        for power in difference.atoms(sympy.Pow)
    ):
        return False
    if sympy.cancel(difference) == 0:
        return True
    rewritten = sympy.expand(difference.rewrite(sympy.exp))
    return sympy.count_ops(rewritten) <= 8 * PROOF_OPERATIONS and sympy.cancel(rewritten) == 0


def forms_equal(cell: Cell, given: WordForm, derived: WordForm, expand_definitions: bool) -> bool:
    """Whether two blocks' forms are provably equal, word by word (with the cell's named quantities
    expanded into their definitions, and the sigmoid into exponentials, when ``expand_definitions``); see
    :func:`provably_zero` for what "provably" means."""
    for key in set(given) | set(derived):
        difference = sympy.sympify(given.get(key, 0)) - sympy.sympify(derived.get(key, 0))
        if expand_definitions:
            difference = _expand_slots(cell, difference)
        if not provably_zero(difference):
            return False
    return True


def _expand_slots(cell: Cell, expression: sympy.Expr) -> sympy.Expr:
    """``expression`` with each slot's named quantities expanded into their definitions (in that slot)."""
    definitions = list(cell.definitions)
    if cell.readout is not None:  # y_t = rho(r)
        definitions.append((now(cell.state[0]), cell.readout.output))
    for symbol, definition in reversed(definitions):
        for slot in slots_used(expression):
            expression = expression.subs(sympy.Symbol(slot_name(str(symbol), slot)), shifted(definition, slot))
    return expression.replace(sigmoid, lambda x: 1 / (1 + sympy.exp(-x)))
