"""The symbolic layer: SymPy derives a cell's step Jacobian, and the formula language reads hand-written ones.

* :mod:`~gradscope.symbolic.derivation`: :func:`derive` (the per-unit partials and the Jacobian blocks of a
  cell) and :func:`expanded_jacobian` (the fully expanded Jacobian at tiny sizes, the second source the tests
  use);
* :mod:`~gradscope.symbolic.formula_parser`: the one way user text becomes an expression (whitelisted names,
  functions and operators; nothing is evaluated);
* :mod:`~gradscope.symbolic.linear_forms`: Jacobian blocks as sums of words in the weight matrices
  (``diag(a) W_hn diag(b) W_hr``) with per-unit coefficients, compared exactly;
* :mod:`~gradscope.symbolic.display`: a derivation as text, LaTeX or Markdown.

Nothing here imports at ``import gradscope``: SymPy loads when a derivation is first asked for.
"""
