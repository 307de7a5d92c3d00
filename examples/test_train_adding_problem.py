"""The adding-problem training example: a short run writes logs that ``gradscope training`` reads and a figure; the
committed run that the gallery draws holds what the example's docstring says (the RNN's reach collapses, the LSTM
learns and reaches the whole sequence)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import train_adding_problem  # noqa: E402


def test_adding_batches_mark_one_step_in_each_half_and_sum_them() -> None:
    x, y = train_adding_problem.adding_batch(torch.Generator().manual_seed(0), 5, 20)
    assert x.shape == (20, 5, 2) and y.shape == (5, 1)
    markers = x[:, :, 1]
    assert torch.all(markers[:10].sum(dim=0) == 1) and torch.all(markers[10:].sum(dim=0) == 1)
    torch.testing.assert_close(y[:, 0], (x[:, :, 0] * markers).sum(dim=0))


def test_a_short_run_writes_logs_and_the_figure(tmp_path: Path) -> None:
    from gradscope.cli import main

    arguments = ["--out", str(tmp_path), "--steps", "20", "--every", "10", "--length", "12", "--hidden", "4"]
    assert train_adding_problem.main(arguments) == 0
    assert (tmp_path / "gradient_flow.png").read_bytes().startswith(b"\x89PNG")
    for kind in ("rnn", "lstm"):
        out = tmp_path / f"{kind}.json"
        assert main(["training", str(tmp_path / f"{kind}.jsonl"), "--json", str(out), "--quiet"]) == 0
        document = json.loads(out.read_text())
        assert document["cell"] == kind and [e["step"] for e in document["checkpoints"]] == [0, 10, 20]


def test_the_committed_run_shows_the_rnn_collapse_and_the_lstm_reach() -> None:
    from gradscope.gallery.training import adding_runs

    rnn, lstm = adding_runs()
    length = int(rnn.run["steps"])
    assert rnn.run["cell"] == "rnn" and lstm.run["cell"] == "lstm" and length == 50
    assert rnn.reaches[0] > 10 and rnn.reaches.min() < 1.0 and rnn.reaches[-1] < 5
    assert lstm.reaches[-1] == length and lstm.entries[-1].rate_per_step >= 0
    assert np.array_equal(rnn.steps, lstm.steps)
