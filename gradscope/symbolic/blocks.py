"""The derived Jacobian's blocks, in the cell's named quantities, for people to read (text, LaTeX).

:class:`JacobianBlock` is one block ``d row_t / d col_{t-1}`` of a one-stage cell, with the terms of
gates whose projection reads a quantity of the step (:class:`InnerTerm`, Cho's GRU); a cell that
feeds its output back has one :class:`ReadoutBlock`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy


@dataclass(frozen=True)
class InnerTerm:
    """The term ``diag(coefficient) W_h{gate} (sum_g diag(read_terms[g]) W_hg + diag(read_diagonal))`` of a
    block: gate ``gate`` projects ``q_t``, a per-unit quantity of the step, and ``d q_t / d s_{t-1}`` is
    the part in parentheses."""

    gate: str
    coefficient: sympy.Expr
    read_terms: tuple[tuple[str, sympy.Expr], ...]
    read_diagonal: sympy.Expr


@dataclass(frozen=True)
class JacobianBlock:
    """One block ``d row_t / d col_{t-1}`` of ``J_t`` (each ``H x H``).

    ``block = sum_g diag(projection_terms[g]) W_hg + diag(diagonal) + sum_n inner_terms[n]``, where
    the coefficients are per-unit SymPy expressions written with the cell's named quantities (``f_t``,
    ``c_t``, ...). Terms that are identically zero are left out; ``diagonal`` is ``0`` when there is
    none. A gate whose projection reads a quantity ``q`` of the step adds ``diag(D) W_hn K`` with
    ``K = d q / d s_{t-1}`` (:class:`InnerTerm`).
    """

    row: str
    col: str
    projection_terms: tuple[tuple[str, sympy.Expr], ...]
    diagonal: sympy.Expr
    inner_terms: tuple[InnerTerm, ...] = ()

    def _parts(self, diag: str, weight: str, printer: object) -> list[str]:
        # W_{col g}: the columns of gate g's block of weight_hh_l0 that read component col (W_hg for h).
        parts = [
            diag.format(printer(coefficient)) + weight.format(self.col, gate)
            for gate, coefficient in self.projection_terms
        ]
        for term in self.inner_terms:
            reads = [diag.format(printer(c)) + weight.format(self.col, g) for g, c in term.read_terms]
            if term.read_diagonal != 0:
                reads.append(diag.format(printer(term.read_diagonal)))
            read = " + ".join(reads) or "0"
            parts.append(diag.format(printer(term.coefficient)) + weight.format(self.col, term.gate) + f" ({read})")
        if self.diagonal != 0:
            parts.append(diag.format(printer(self.diagonal)))
        return parts or ["0"]

    def latex(self) -> str:
        """The block as a LaTeX equation.

        For example ``\\frac{\\partial c_t}{\\partial c_{t-1}} = \\operatorname{diag}\\left(f_{t}\\right)``.
        """
        parts = self._parts(r"\operatorname{{diag}}\left({}\right)", " W_{{{}{}}}", sympy.latex)
        return rf"\frac{{\partial {self.row}_t}}{{\partial {self.col}_{{t-1}}}} = " + " + ".join(parts)

    def text(self) -> str:
        """The block as one line of plain text (``sympy.sstr`` coefficients)."""
        parts = self._parts("diag({})", " W_{}{}", sympy.sstr)
        return f"d{self.row}_t/d{self.col}_{{t-1}} = " + " + ".join(parts)

    def __str__(self) -> str:
        return self.text()


@dataclass(frozen=True)
class ReadoutBlock:
    """The Jacobian ``d y_t / d y_{t-1}`` (``O x O``) of a cell that feeds its output back.

    ``block = diag(readout) W_hy sum_g diag(hidden_terms[g]) W_yg``, coefficients per unit in the
    cell's named quantities (``y_t``, ``h_t``).
    """

    row: str
    col: str
    readout: sympy.Expr
    hidden_terms: tuple[tuple[str, sympy.Expr], ...]

    def _format(self, diag: str, readout_weight: str, weight: str, printer: object) -> str:
        terms = [diag.format(printer(coefficient)) + weight.format(gate) for gate, coefficient in self.hidden_terms]
        inner = terms[0] if len(terms) == 1 else "(" + " + ".join(terms) + ")"
        return diag.format(printer(self.readout)) + readout_weight + " " + inner

    def latex(self) -> str:
        """The block as a LaTeX equation (``\\frac{\\partial y_t}{\\partial y_{t-1}} = ...``)."""
        body = self._format(r"\operatorname{{diag}}\left({}\right)", " W_{hy}", " W_{{y{}}}", sympy.latex)
        return rf"\frac{{\partial {self.row}_t}}{{\partial {self.col}_{{t-1}}}} = " + body

    def text(self) -> str:
        """The block as one line of plain text, e.g. ``dy_t/dy_{t-1} = diag(...) W_hy diag(...) W_yh``."""
        return f"d{self.row}_t/d{self.col}_{{t-1}} = " + self._format("diag({})", " W_hy", " W_y{}", sympy.sstr)

    def __str__(self) -> str:
        return self.text()
