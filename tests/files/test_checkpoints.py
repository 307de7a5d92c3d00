"""Checkpoints: .npz, .pt and .safetensors give identical analyses; loading never runs code."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

import gradscope
from gradscope.errors import CheckpointError, ParameterError
from gradscope.files.checkpoints import load_state_dict, recurrent_prefixes, select_recurrent

torch = pytest.importorskip("torch")


class Model(torch.nn.Module):
    """A model with a recurrent encoder inside, as people save them."""

    def __init__(self, second_rnn: bool = False) -> None:
        super().__init__()
        self.embed = torch.nn.Linear(4, 3)
        self.encoder = torch.nn.Module()
        self.encoder.rnn = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True)
        if second_rnn:
            self.decoder = torch.nn.GRU(10, 5)
        self.head = torch.nn.Linear(10, 2)


def analysis_json(params: dict[str, np.ndarray], cell: str = "lstm") -> str:
    inputs = np.random.default_rng(0).standard_normal((8, 3))
    return json.dumps(gradscope.analyze(cell, params=params, inputs=inputs).to_dict(), sort_keys=True)


def test_pt_npz_and_safetensors_give_identical_json(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Model().double()
    state = model.state_dict()
    torch.save(state, tmp_path / "model.pt")
    np.savez(tmp_path / "model.npz", **{k: v.numpy() for k, v in state.items()})
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "model.safetensors"))
    documents = set()
    for name in ("model.pt", "model.npz", "model.safetensors"):
        selected = select_recurrent(load_state_dict(tmp_path / name))
        assert sorted(selected) == sorted(k.removeprefix("encoder.rnn.") for k in state if k.startswith("encoder.rnn."))
        documents.add(analysis_json(selected))
    assert len(documents) == 1
    assert json.loads(documents.pop())["num_layers"] == 2


def test_training_state_is_flattened_and_found(tmp_path: Path) -> None:
    model = Model().double()
    torch.save({"model": model.state_dict(), "epoch": 3, "note": "best"}, tmp_path / "train.pth")
    state = load_state_dict(tmp_path / "train.pth")
    assert recurrent_prefixes(state) == ["model.encoder.rnn."]
    assert "weight_hh_l1_reverse" in select_recurrent(state)


def test_ambiguous_and_prefixed_selection(tmp_path: Path) -> None:
    state = {k: v.numpy() for k, v in Model(second_rnn=True).double().state_dict().items()}
    with pytest.raises(
        CheckpointError, match=r"several recurrent modules \('decoder\.', 'encoder\.rnn\.'\); choose one with --prefix"
    ):
        select_recurrent(state, source="big.npz")
    assert sorted(select_recurrent(state, prefix="decoder.")) == [
        "bias_hh_l0",
        "bias_ih_l0",
        "weight_hh_l0",
        "weight_ih_l0",
    ]
    with pytest.raises(
        CheckpointError,
        match=r"no recurrent parameters under prefix 'decoder\.rnn\.' \(modules found: 'decoder\.', 'encoder\.rnn\.'\)",
    ):
        select_recurrent(state, prefix="decoder.rnn.")
    with pytest.raises(CheckpointError, match="no recurrent module found"):
        select_recurrent({"head.weight": np.zeros((2, 2))}, source="head.npz")


def test_lstm_projections_are_refused_clearly() -> None:
    state = {k: v.numpy() for k, v in torch.nn.LSTM(3, 5, proj_size=2).double().state_dict().items()}
    with pytest.raises(ParameterError, match=r"weight_hr_l0: LSTM with proj_size > 0 is not supported"):
        gradscope.analyze("lstm", params=select_recurrent(state), steps=4)


class Payload:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_code_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    torch.save({"weight_hh_l0": torch.zeros(2, 2), "evil": Payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="never unpickled"):
        load_state_dict(tmp_path / "evil.pt")
    np.savez(tmp_path / "evil.npz", weight_hh_l0=np.zeros((2, 2)), evil=np.array([Payload(marker)], dtype=object))
    with pytest.raises(CheckpointError, match="never unpickled"):
        load_state_dict(tmp_path / "evil.npz")
    (tmp_path / "raw.pkl.pt").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(CheckpointError):
        load_state_dict(tmp_path / "raw.pkl.pt")
    assert not marker.exists()


@pytest.mark.parametrize("name", ["model.pt", "model.npz", "model.safetensors"])
def test_truncated_files_are_clear_errors(tmp_path: Path, name: str) -> None:
    state = {k: v for k, v in torch.nn.GRU(3, 4).double().state_dict().items()}
    path = tmp_path / name
    if name.endswith(".pt"):
        torch.save(state, path)
    elif name.endswith(".npz"):
        np.savez(path, **{k: v.numpy() for k, v in state.items()})
    else:
        from safetensors.torch import save_file

        save_file(state, str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=str(path)):
        load_state_dict(path)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"missing\.pt: no such file"):
        load_state_dict(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="is a directory"):
        load_state_dict(tmp_path)
    (tmp_path / "weights.h5").write_bytes(b"x")
    with pytest.raises(CheckpointError, match=r"unknown checkpoint format '\.h5'"):
        load_state_dict(tmp_path / "weights.h5")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="holds a list, not a state_dict"):
        load_state_dict(tmp_path / "list.pt")
