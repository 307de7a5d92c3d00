"""``GradientFlowMonitor`` in short torch training loops: its entries equal offline analyses of the same snapshots
(and PyTorch autograd in float64); a worker that dies or an analysis that fails leaves training running and warns
once; TensorBoard and W&B receive the scalars and the figure; the worker never imports torch."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gradscope
from gradscope.errors import ConfigError

torch = pytest.importorskip("torch")
from gradscope.torch import GradientFlowMonitor, MonitorWarning  # noqa: E402
from gradscope.torch.worker import encode, serve, stop_frame  # noqa: E402

WIDTH, HIDDEN, T = 3, 6, 16


class Model(torch.nn.Module):
    """A model with its recurrent module inside, as people train them."""

    def __init__(self, kind: type = torch.nn.LSTM) -> None:
        super().__init__()
        self.rnn = kind(WIDTH, HIDDEN)
        self.head = torch.nn.Linear(HIDDEN, 1)

    def forward(self, x: Any) -> Any:
        out, _ = self.rnn(x)
        return self.head(out[-1])


def train(
    model: Model, monitor: GradientFlowMonitor | None, steps: int, every: int, snapshots: dict | None = None
) -> float:
    """A few SGD steps on random data; the state of the recurrent module kept at each snapshot step."""
    torch.manual_seed(1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = torch.tensor(0.0)
    for step in range(steps):
        if snapshots is not None and step % every == 0:
            snapshots[step] = {k: v.detach().double().numpy().copy() for k, v in model.rnn.state_dict().items()}
        x, y = torch.randn(T, 4, WIDTH), torch.randn(4, 1)
        loss = torch.nn.functional.mse_loss(model(x), y)
        if monitor is not None:
            monitor.step(step)  # before the update: the snapshot is the state the step starts from
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(loss.detach())


@pytest.fixture
def probe() -> np.ndarray:
    return np.random.default_rng(3).standard_normal((T, WIDTH))


def test_entries_equal_offline_analyses_of_the_same_snapshots(tmp_path: Path, probe: np.ndarray) -> None:
    import torch_reference

    torch.manual_seed(0)
    model = Model()
    snapshots: dict[int, dict[str, np.ndarray]] = {}
    log = tmp_path / "flow.jsonl"
    with GradientFlowMonitor(model, probe, every=3, log=log, max_pending=None) as monitor:
        train(model, monitor, steps=10, every=3, snapshots=snapshots)
    assert monitor.failure is None and monitor.skipped == 0
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 3, 6, 9] == sorted(snapshots)
    assert monitor.records == records
    for record in records:
        offline = gradscope.analyze("lstm", params=snapshots[record["step"]], inputs=probe).to_dict()
        assert record["verdict"] == offline["verdict"]
        for key in ("lags", "log10_norm", "rate_per_step", "efolding_lag"):
            assert record[key] == pytest.approx(offline[key], rel=1e-12), key
    last = snapshots[9]
    products = torch_reference.lag_products("lstm", last, probe, np.zeros(2 * HIDDEN))
    norms = np.log10(np.linalg.norm(products, ord=2, axis=(1, 2)))
    np.testing.assert_allclose(records[-1]["log10_norm"], norms, rtol=1e-9, atol=1e-12)
    # The log is what `gradscope training` reads.
    series = monitor.series()
    assert series is not None and list(series.steps) == [0, 3, 6, 9]


def test_a_worker_that_dies_leaves_training_running_and_warns_once(tmp_path: Path, probe: np.ndarray) -> None:
    model = Model(torch.nn.GRU)
    monitor = GradientFlowMonitor(model, probe, every=1, log=tmp_path / "flow.jsonl")
    monitor._process.kill()
    monitor._process.wait()
    with pytest.warns(MonitorWarning, match="worker process stopped") as caught:
        loss = train(model, monitor, steps=6, every=1)
        monitor.close()
    assert len([w for w in caught if issubclass(w.category, MonitorWarning)]) == 1
    assert np.isfinite(loss)
    assert monitor.failure is not None


def test_a_failing_analysis_leaves_training_running_and_warns_once(tmp_path: Path, probe: np.ndarray) -> None:
    model = Model(torch.nn.RNN)
    monitor = GradientFlowMonitor(model, probe, every=2, log=tmp_path / "flow.jsonl")
    with torch.no_grad():
        model.rnn.weight_hh_l0[0, 0] = float("nan")  # training diverged: the snapshot has NaN
    with pytest.warns(MonitorWarning, match="analysis failed") as caught:
        for step in range(8):
            monitor.step(step)
        monitor.close()
    assert len([w for w in caught if issubclass(w.category, MonitorWarning)]) == 1
    assert "weight_hh_l0" in str(monitor.failure)


def test_attach_counts_optimizer_steps_and_skips_when_the_worker_is_behind(tmp_path: Path, probe: np.ndarray) -> None:
    model = Model(torch.nn.RNN)
    monitor = GradientFlowMonitor(model, probe, every=1, log=tmp_path / "flow.jsonl", max_pending=1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    handle = monitor.attach(optimizer)
    for _ in range(12):
        optimizer.zero_grad()
        model(torch.randn(T, 2, WIDTH)).sum().backward()
        optimizer.step()
    handle.remove()
    monitor.close()
    assert monitor.failure is None
    assert len(monitor.records) + monitor.skipped == 12
    assert [r["step"] for r in monitor.records] == sorted(r["step"] for r in monitor.records)


class FakeWriter:
    """What a TensorBoard SummaryWriter receives."""

    def __init__(self) -> None:
        self.scalars: list[tuple[str, float, int]] = []
        self.figures: list[tuple[str, object, int]] = []

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, value, step))

    def add_figure(self, tag: str, figure: object, global_step: int) -> None:
        self.figures.append((tag, figure, global_step))


def test_tensorboard_and_wandb_receive_the_rate_and_the_figure(
    tmp_path: Path, probe: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged: list[dict[str, Any]] = []
    fake_wandb = types.SimpleNamespace(run=object(), log=logged.append, Image=lambda figure: ("image", figure))
    monkeypatch.setitem(sys.modules, "wandb", fake_wandb)
    writer = FakeWriter()
    model = Model()
    with GradientFlowMonitor(model, probe, every=2, log=tmp_path / "flow.jsonl", writer=writer, max_pending=None) as m:
        train(model, m, steps=5, every=2)
    rates = {step: value for tag, value, step in writer.scalars if tag == "gradscope/rate_per_step"}
    assert rates == {r["step"]: r["rate_per_step"] for r in m.records}
    assert [(tag, step) for tag, _, step in writer.figures] == [("gradscope/gradient_flow", 4)]
    assert [entry["gradscope/step"] for entry in logged[:-1]] == [0, 2, 4]
    assert logged[-1]["gradscope/gradient_flow"][0] == "image"


def test_real_tensorboard_writer(tmp_path: Path, probe: np.ndarray) -> None:
    tensorboard = pytest.importorskip("torch.utils.tensorboard")
    writer = tensorboard.SummaryWriter(log_dir=str(tmp_path / "tb"))
    model = Model(torch.nn.GRU)
    with GradientFlowMonitor(model, probe, every=2, log=tmp_path / "flow.jsonl", writer=writer) as monitor:
        train(model, monitor, steps=3, every=2)
    writer.close()
    assert monitor.failure is None
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"every": 0}, "every must be a positive integer"),
        ({"inputs": np.zeros(5)}, "inputs: expected shape"),
        ({"inputs": np.zeros((T, WIDTH + 1))}, "inputs"),
        ({"prefix": "decoder."}, "prefix 'decoder.'"),
    ],
)
def test_bad_arguments_fail_before_training(tmp_path: Path, probe: np.ndarray, arguments: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        GradientFlowMonitor(Model(), **({"inputs": probe} | arguments), log=tmp_path / "flow.jsonl")
    with pytest.raises(ConfigError, match=r"exactly one nn\.RNN"):
        GradientFlowMonitor(torch.nn.Linear(2, 2), probe, log=tmp_path / "flow.jsonl")


def test_the_worker_protocol_in_process(tmp_path: Path, probe: np.ndarray) -> None:
    params = {k: v.detach().double().numpy() for k, v in torch.nn.RNN(WIDTH, HIDDEN).state_dict().items()}
    frames = encode({"cell": "rnn", "norm": "spectral", "dtype": "float64", "inputs": probe})
    frames += encode({"__step__": 7, **params}) + stop_frame()
    sink = io.StringIO()
    serve(tmp_path / "log.jsonl", io.BytesIO(frames), sink)
    (reply,) = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert reply["kind"] == "entry" and reply["record"]["step"] == 7
    offline = gradscope.analyze("rnn", params=params, inputs=probe).to_dict()
    assert reply["record"]["log10_norm"] == offline["log10_norm"]
    assert json.loads((tmp_path / "log.jsonl").read_text()) == reply["record"]


def test_the_worker_imports_neither_torch_nor_matplotlib() -> None:
    code = "import sys, gradscope.torch.worker; print(sorted({'torch', 'matplotlib', 'sympy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_monitor_is_quiet_when_all_is_well(tmp_path: Path, probe: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", MonitorWarning)
        model = Model(torch.nn.RNN)
        with GradientFlowMonitor(model, probe, every=5, log=tmp_path / "flow.jsonl") as monitor:
            train(model, monitor, steps=6, every=5)
    assert len(monitor.records) == 2


def test_the_losss_gradient_is_followed_through_the_output_layer(tmp_path: Path, probe: np.ndarray) -> None:
    from gradscope.analysis.loss_gradient import LossSpec, loss_gradient

    torch.manual_seed(0)
    model = Model()
    snapshots: dict[int, dict[str, np.ndarray]] = {}
    heads: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    target = np.array([0.5])
    log = tmp_path / "flow.jsonl"
    monitor = GradientFlowMonitor(
        model, probe, every=2, log=log, loss="mse", reduce="last", targets=target, head=model.head, max_pending=None
    )
    for step in range(5):
        if step % 2 == 0:
            snapshots[step] = {k: v.detach().double().numpy().copy() for k, v in model.rnn.state_dict().items()}
            heads[step] = (
                model.head.weight.detach().double().numpy().copy(),
                model.head.bias.detach().double().numpy().copy(),
            )
        monitor.step(step)
        loss = model(torch.randn(T, 4, WIDTH)).pow(2).mean()
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.5 * p.grad
    monitor.close()
    assert monitor.failure is None and [r["step"] for r in monitor.records] == [0, 2, 4]
    for record in monitor.records:
        problem = gradscope.make_problem("lstm", params=snapshots[record["step"]], inputs=probe)
        expected = loss_gradient(problem, LossSpec("mse", "last", target, *heads[record["step"]]))
        assert record["loss_gradient"]["log10_norm"] == pytest.approx(list(expected.log10_norm), rel=1e-12)
    with pytest.raises(ConfigError, match="give its targets"):
        GradientFlowMonitor(model, probe, log=log, loss="mse")
    with pytest.raises(gradscope.ShapeError, match="targets"):
        GradientFlowMonitor(model, probe, log=log, loss="mse", targets=np.zeros(3), head=model.head)
