"""The LSTM carousel's path alone, ``max_i prod_t f_t[i]``, against the forget gates of a torch nn.LSTM."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradscope.analysis.problem import make_problem
from gradscope.analysis.spectra import carousel_log10, carousel_rate
from gradscope.errors import ConfigError


@pytest.mark.parametrize("forget_bias", [None, 2.0])
def test_carousel_is_the_product_of_torch_forget_gates(forget_bias: float | None) -> None:
    torch = pytest.importorskip("torch")
    import torch_reference

    hidden, width, steps = 5, 3, 12
    problem = make_problem("lstm", hidden_size=hidden, input_size=width, steps=steps, seed=3, forget_bias=forget_bias)
    module = torch_reference.module_for("lstm", problem.network.first.as_dict())
    xs = torch.tensor(np.asarray(problem.inputs))
    h, c = torch.zeros(1, hidden, dtype=torch.float64), torch.zeros(1, hidden, dtype=torch.float64)
    gates = []
    with torch.no_grad():
        for x in xs:
            a = x @ module.weight_ih_l0.T + module.bias_ih_l0 + h @ module.weight_hh_l0.T + module.bias_hh_l0
            gates.append(torch.sigmoid(a[0, hidden : 2 * hidden]).numpy())
            _, (h, c) = module(x.reshape(1, 1, -1), (h.reshape(1, 1, -1), c.reshape(1, 1, -1)))
            h, c = h.reshape(1, -1), c.reshape(1, -1)
    f = np.array(gates)  # (T, H)
    expected = [math.log10(np.prod(f[steps - k :], axis=0).max()) for k in range(1, steps + 1)]
    np.testing.assert_allclose(carousel_log10(problem), expected, rtol=0, atol=1e-12)
    assert carousel_rate(problem) == pytest.approx(math.log(10) * expected[-1] / steps, abs=1e-13)


def test_only_the_lstm_has_a_carousel() -> None:
    with pytest.raises(ConfigError, match="the gru cell has none"):
        carousel_log10(make_problem("gru", hidden_size=3, input_size=2, steps=4))
