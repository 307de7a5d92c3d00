"""A derivation in print: SymPy's 2-D pictures, one-line text, LaTeX and Markdown of a cell's equations and blocks.

Plain strings, made by SymPy's printers. The one-line text is the formula language
(:mod:`gradscope.symbolic.formula_parser`): what :func:`gradscope.check_formula` reads, exactly as
printed. :mod:`gradscope.terminal.derivation` sets the pictures in a rich report, and
``gradscope derive --format text|latex|markdown`` writes the documents as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy
from sympy.printing.pretty.pretty import PrettyPrinter
from sympy.printing.pretty.pretty_symbology import pretty_use_unicode
from sympy.printing.pretty.stringpict import prettyForm, stringPict

from gradscope.symbolic.derivation import Derivation, ReadoutBlock


def equations(derivation: Derivation) -> list[tuple[object, object]]:
    """The cell's named quantities, then each state update that is not just a named quantity."""
    cell = derivation.cell
    equations = [(symbol, expression) for symbol, expression in cell.definitions]
    named = {symbol for symbol, _ in equations}
    if cell.readout is not None:
        hidden = sympy.Symbol("h_t")
        if cell.updates[0] not in named:
            equations.append((hidden, cell.updates[0]))
        equations.append((sympy.Symbol(f"{cell.state[0]}_t"), cell.readout.output))
        return equations
    for component, update in zip(cell.state, cell.updates, strict=True):
        if update not in named:
            equations.append((sympy.Symbol(f"{component}_t"), update))
    return equations


def equation_texts(derivation: Derivation) -> list[str]:
    """The cell's equations as one line each, in the formula language: ``c_t = c_{t-1}*f_t + g_t*i_t``."""
    return [f"{symbol} = {sympy.sstr(expression)}" for symbol, expression in equations(derivation)]


def block_texts(derivation: Derivation) -> list[str]:
    """The Jacobian blocks as one line each, in the formula language that :func:`gradscope.check_formula`
    reads: ``dc_t/dc_{t-1} = diag(f_t)`` (each line as it is, left-hand side included)."""
    return [block.text() for block in derivation.blocks]


def derivation_text(derivation: Derivation) -> str:
    """``derive --format text``: the equations, a blank line, the blocks; one formula per line."""
    return "\n".join([*equation_texts(derivation), "", *block_texts(derivation)]) + "\n"


def pictures(items: Sequence[tuple[str, object]], unicode: bool) -> list[str]:
    """SymPy's 2-D pictures of ``prefix + expression``, baselines aligned, one string per item."""
    # Symbols consult SymPy's global unicode flag, not the printer's setting (as sympy.pretty does).
    previous = pretty_use_unicode(unicode)
    try:
        printer = PrettyPrinter({"use_unicode": unicode, "wrap_line": False})
        return [
            prettyForm(*stringPict.next(prettyForm(prefix), printer._print(expression))).render(wrap_line=False)
            for prefix, expression in items
        ]
    finally:
        pretty_use_unicode(previous)


def equation_pictures(derivation: Derivation, unicode: bool = True) -> list[str]:
    """The cell's equations (one unit), one 2-D picture each."""
    items = [("  ", sympy.Eq(symbol, expression, evaluate=False)) for symbol, expression in equations(derivation)]
    return pictures(items, unicode)


def block_pictures(derivation: Derivation, unicode: bool = True) -> list[str]:
    """The Jacobian blocks, one 2-D picture per term: ``d row_t/d col_{t-1} = diag(...) W_{col g} + ...``."""
    d = "∂" if unicode else "d"
    items: list[tuple[str, object]] = []
    for block in derivation.blocks:
        lhs = f"  {d}{block.row}_t/{d}{block.col}_{{t-1}} = "
        if isinstance(block, ReadoutBlock):
            items.append((lhs, _readout_term(block)))
            continue
        terms = [
            sympy.Function("diag")(c) * sympy.Symbol(f"W_{block.col}{g}", commutative=False)
            for g, c in block.projection_terms
        ]
        if block.diagonal != 0:
            terms.append(sympy.Function("diag")(block.diagonal))
        for index, term in enumerate(terms or [sympy.Integer(0)]):
            items.append((lhs if index == 0 else " " * (len(lhs) - 2) + "+ ", term))
    return pictures(items, unicode)


def _readout_term(block: ReadoutBlock) -> sympy.Expr:
    """``diag(rho') W_hy (sum_g diag(D_g) W_yg)`` as a non-commutative SymPy product, for pretty printing."""
    # Non-commutative heads keep the factors in the order of the matrix product.
    diag = sympy.Function("diag", commutative=False)
    inner = sympy.Add(*(diag(c) * sympy.Symbol(f"W_y{g}", commutative=False) for g, c in block.hidden_terms))
    return diag(block.readout) * sympy.Symbol("W_hy", commutative=False) * inner


def _projections_latex(derivation: Derivation) -> str:
    """The projections the equations are written in, as LaTeX."""
    if derivation.cell.readout is not None:
        return "u_g = W_{ig} x_t + b_{ig}, m_g = W_{yg} y_{t-1}, r = W_{hy} h_t + b_y"
    return "u_g = W_{ig} x_t + b_{ig}, m_g = W_{hg} h_{t-1} + b_{hg}"


def _projections_markdown(derivation: Derivation) -> str:
    if derivation.cell.readout is not None:
        return "With the projections $u_g = W_{ig} x_t + b_{ig}$, $m_g = W_{yg} y_{t-1}$ and $r = W_{hy} h_t + b_y$:"
    return "With gate $g$'s projections $u_g = W_{ig} x_t + b_{ig}$ and $m_g = W_{hg} h_{t-1} + b_{hg}$:"


def derivation_latex(derivation: Derivation) -> str:
    """The equations and the Jacobian blocks as two LaTeX ``aligned`` environments, with ``%`` comments."""
    cell = derivation.cell
    aligned = " \\\\\n".join(f"{sympy.latex(s)} &= {sympy.latex(e)}" for s, e in equations(derivation))
    return (
        f"% gradscope derive {cell.name}: {cell.title}\n"
        f"% {cell.reference}\n"
        f"% {_projections_latex(derivation)} (gate g's projections)\n"
        f"% Equations (one unit)\n\\begin{{aligned}}\n{aligned}\n\\end{{aligned}}\n\n"
        f"% Per-step Jacobian, numerator layout, s = {cell.state_layout}\n{derivation.latex()}\n"
    )


def derivation_markdown(derivation: Derivation) -> str:
    """The cell, its equations and its Jacobian blocks as Markdown with ``$...$`` LaTeX."""
    cell = derivation.cell
    lines = [
        f"# `{cell.name}`: {cell.title}",
        "",
        f"{cell.reference}",
        "",
        "| | |",
        "|---|---|",
        f"| state | $s = {cell.state_layout}$ |",
        f"| gates | {', '.join(cell.gates)} (PyTorch chunk order) |",
        "",
        "## Equations (one unit)",
        "",
        _projections_markdown(derivation),
        "",
    ]
    lines += [f"- ${sympy.latex(s)} = {sympy.latex(e)}$" for s, e in equations(derivation)]
    lines += [
        "",
        r"## Per-step Jacobian $J_t = \partial s_t / \partial s_{t-1}$",
        "",
        r"Numerator layout, $J_t[i, j] = \partial s_t[i] / \partial s_{t-1}[j]$, derived by SymPy:",
        "",
    ]
    lines += [f"- ${block.latex()}$" for block in derivation.blocks]
    return "\n".join(lines) + "\n"
