"""The explanation figure, through its data: one line per path beside the full product, one box per gate."""

from __future__ import annotations

import numpy as np

from gradscope import explain
from gradscope.figures import explanation_figure


def test_lines_are_the_paths_and_the_full_product() -> None:
    result = explain("lstm", hidden_size=6, steps=30, suggest=False)
    fig = explanation_figure(result)
    left, right = fig.axes
    lines = {line.get_label(): line for line in left.get_lines()}
    np.testing.assert_allclose(lines["full product"].get_ydata(), result.analysis.log10_norm)
    carousel = lines["c->c: diag(f_t)"]
    np.testing.assert_allclose(carousel.get_ydata(), result.carousel.log10_norm)
    assert [t.get_text() for t in right.get_xticklabels()] == [f"{g.name} ({g.activation})" for g in result.gates]
