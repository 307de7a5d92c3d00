"""``gradscope training`` end to end: every checkpoint's profile equals ``gradscope analyze --weights`` on that file
and PyTorch autograd in float64; ordering by step from names and entries, by name and by mtime; the change in
words; a monitor's JSON Lines log read back; bad input exits 2 naming the file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_helpers import assert_bad_input
from cli_helpers import invoke as invoke_80

torch = pytest.importorskip("torch")

HIDDEN, WIDTH, STEPS = 5, 3, 14


def invoke(*args: str) -> Any:
    return invoke_80(*args, env={"COLUMNS": "100"})


def lstm_state(seed: int, forget_shift: float) -> dict[str, Any]:
    """An LSTM's float64 state_dict whose forget gates are shifted by ``forget_shift`` (training moving them)."""
    torch.manual_seed(seed)
    module = torch.nn.LSTM(WIDTH, HIDDEN).double()
    with torch.no_grad():
        module.bias_hh_l0[HIDDEN : 2 * HIDDEN] += forget_shift
    return module.state_dict()


def write_run(folder: Path, steps: tuple[int, ...] = (0, 500, 1000), fmt: str = "pt") -> list[Path]:
    """Checkpoints named by step whose forget gates close as training goes on."""
    folder.mkdir(exist_ok=True)
    paths = []
    for index, step in enumerate(steps):
        state = lstm_state(0, -3.0 * index)
        path = folder / f"ckpt_{step}.{fmt}"
        if fmt == "pt":
            torch.save(state, path)
        else:
            np.savez(path, **{k: v.numpy() for k, v in state.items()})
        paths.append(path)
    return paths


def inputs_file(folder: Path) -> Path:
    path = folder / "x.npy"
    np.save(path, np.random.default_rng(5).standard_normal((STEPS, WIDTH)))
    return path


def test_each_checkpoint_equals_analyze_weights_and_torch_autograd(serial: None, tmp_path: Path) -> None:
    import torch_reference

    paths = write_run(tmp_path / "run")
    x = inputs_file(tmp_path)
    result = invoke("training", str(tmp_path / "run" / "ckpt_*.pt"), "--inputs", str(x), "--json", "-")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["schema"] == "gradscope.training/1"
    assert [entry["step"] for entry in document["checkpoints"]] == [0, 500, 1000]
    inputs = np.load(x)
    for entry, path in zip(document["checkpoints"], paths, strict=True):
        assert entry["path"] == str(path)
        alone = invoke("analyze", "--cell", "lstm", "--weights", str(path), "--inputs", str(x), "--json", "-")
        assert alone.exit_code == 0, alone.output
        expected = json.loads(alone.stdout)
        for key in ("lags", "log10_norm", "rate_per_step", "efolding_lag", "verdict"):
            assert entry[key] == expected[key], key
        params = {k: v.numpy() for k, v in torch.load(path, weights_only=True).items()}
        products = torch_reference.lag_products("lstm", params, inputs, np.zeros(2 * HIDDEN))
        norms = np.log10(np.linalg.norm(products, ord=2, axis=(1, 2)))
        np.testing.assert_allclose(entry["log10_norm"], norms, rtol=1e-9, atol=1e-12)


def test_worker_processes_give_the_profiles_of_analyze(tmp_path: Path) -> None:
    paths = write_run(tmp_path / "run", fmt="npz")
    parallel = invoke("training", str(tmp_path / "run"), "--steps", str(STEPS), "--workers", "2", "--json", "-")
    assert parallel.exit_code == 0, parallel.output
    document = json.loads(parallel.stdout)
    assert document["cell"] == "lstm"  # read from weight_hh_l0's shape (4H, H)
    for entry, path in zip(document["checkpoints"], paths, strict=True):
        alone = invoke("analyze", "--cell", "lstm", "--weights", str(path), "--steps", str(STEPS), "--json", "-")
        # Worker processes run the BLAS on one thread: the last bit may differ from this process's.
        np.testing.assert_allclose(entry["log10_norm"], json.loads(alone.stdout)["log10_norm"], rtol=1e-12)


def test_a_dask_scheduler_gives_the_profiles_of_analyze(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    paths = write_run(tmp_path / "run", fmt="npz")
    # Two single-threaded workers in this process, on loopback only; the command connects by address.
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=None
    ) as cluster:
        result = invoke(
            "training", str(tmp_path / "run"), "--steps", str(STEPS), "--scheduler", cluster.scheduler_address,
            "--json", "-",
        )  # fmt: skip
        ran_on_the_cluster = cluster.scheduler.transition_counter > 0
    assert result.exit_code == 0, result.output
    assert ran_on_the_cluster
    document = json.loads(result.stdout)
    assert [entry["step"] for entry in document["checkpoints"]] == [0, 500, 1000]
    for entry, path in zip(document["checkpoints"], paths, strict=True):
        alone = invoke("analyze", "--cell", "lstm", "--weights", str(path), "--steps", str(STEPS), "--json", "-")
        np.testing.assert_allclose(entry["log10_norm"], json.loads(alone.stdout)["log10_norm"], rtol=1e-12)


def test_report_calls_out_the_change(serial: None, tmp_path: Path) -> None:
    write_run(tmp_path / "run")
    result = invoke("training", str(tmp_path / "run"), "--steps", str(STEPS))
    assert result.exit_code == 0, result.output
    document = json.loads(invoke("training", str(tmp_path / "run"), "--steps", str(STEPS), "--json", "-").stdout)
    reaches = [entry["reach"] for entry in document["checkpoints"]]
    assert reaches[0] > reaches[1] > reaches[2]  # the forget gates close: the reach falls
    change = document["change"]
    ratios = [reaches[0] / reaches[1], reaches[1] / reaches[2]]
    before, after = (0, 500) if ratios[0] >= ratios[1] else (500, 1000)
    assert (change["before_step"], change["after_step"]) == (before, after)
    text = " ".join(result.stdout.split())
    assert f"The reach fell from {change['reach_before']:.3g} to {change['reach_after']:.3g} steps" in text
    assert f"between step {before} and step {after}" in text
    for step in ("0", "500", "1000"):
        assert step in text


def test_order_by_step_from_names_entries_name_and_mtime(serial: None, tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    # Names whose text order is not the step order (10 before 9), and one whose step entry overrides its name.
    for name, shift in (("ckpt_10.npz", 1.0), ("ckpt_9.npz", 2.0)):
        np.savez(folder / name, **{k: v.numpy() for k, v in lstm_state(0, shift).items()})
    torch.save({"model": lstm_state(0, 3.0), "step": torch.tensor(4)}, folder / "latest_99.pt")
    os.utime(folder / "ckpt_10.npz", (1000, 1000))
    os.utime(folder / "latest_99.pt", (2000, 2000))
    os.utime(folder / "ckpt_9.npz", (3000, 3000))

    def order(*extra: str) -> list[tuple[int, str, str]]:
        result = invoke("training", str(folder), "--steps", "6", "--json", "-", *extra)
        assert result.exit_code == 0, result.output
        return [(e["step"], Path(e["path"]).name, e["step_source"]) for e in json.loads(result.stdout)["checkpoints"]]

    assert order() == [(4, "latest_99.pt", "entry"), (9, "ckpt_9.npz", "name"), (10, "ckpt_10.npz", "name")]
    assert [name for _, name, _ in order("--order", "name")] == ["ckpt_9.npz", "ckpt_10.npz", "latest_99.pt"]
    assert [name for _, name, _ in order("--order", "mtime")] == ["ckpt_10.npz", "latest_99.pt", "ckpt_9.npz"]


def test_a_monitor_log_is_read_back(serial: None, tmp_path: Path) -> None:
    import gradscope
    from gradscope.studies.training import TrainingEntry

    run = {"cell": "rnn", "state": "h", "hidden_size": 4, "input_size": 2, "steps": 10, "norm": "spectral"}
    run["dtype"] = "float64"
    lines = []
    for step, gain in ((20, 0.5), (10, 1.5)):
        analysis = gradscope.analyze("rnn", hidden_size=4, input_size=2, steps=10, gain=gain)
        entry = TrainingEntry.of(analysis, path=None, step=step, step_source="monitor")
        lines.append(json.dumps(entry.to_record(run)))
    log = tmp_path / "flow.jsonl"
    log.write_text("\n".join(lines) + "\n")
    result = invoke("training", str(log), "--json", "-")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [e["step"] for e in document["checkpoints"]] == [10, 20]
    expected = gradscope.analyze("rnn", hidden_size=4, input_size=2, steps=10, gain=1.5)
    assert document["checkpoints"][0]["log10_norm"] == json.loads(json.dumps(expected.to_dict()))["log10_norm"]


def test_plot_draws_the_profiles(serial: None, tmp_path: Path) -> None:
    write_run(tmp_path / "run")
    result = invoke("training", str(tmp_path / "run"), "--steps", "8", "--plot", str(tmp_path / "flow.png"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "flow.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("arguments", "fragments"),
    [
        (["nothing_*.pt"], ["nothing_*.pt", "no file matches"]),
        (["missing.pt"], ["missing.pt", "no such file"]),
        (["run", "--order", "size"], ["--order", "size"]),
    ],
)
def test_bad_arguments_exit_2(serial: None, tmp_path: Path, arguments: list[str], fragments: list[str]) -> None:
    write_run(tmp_path / "run")
    result = invoke("training", *[str(tmp_path / a) if not a.startswith("-") and a != "size" else a for a in arguments])
    assert_bad_input(result, *fragments)


def test_checkpoints_of_different_sizes_or_without_steps_are_refused(serial: None, tmp_path: Path) -> None:
    write_run(tmp_path / "run")
    torch.manual_seed(1)
    torch.save(torch.nn.LSTM(WIDTH, HIDDEN + 1).double().state_dict(), tmp_path / "run" / "ckpt_2000.pt")
    assert_bad_input(invoke("training", str(tmp_path / "run"), "--steps", "6"), "ckpt_2000.pt", "hidden_size")
    torch.save(lstm_state(0, 0.0), tmp_path / "best.pt")
    assert_bad_input(invoke("training", str(tmp_path / "best.pt")), "best.pt", "no training step", "--order")
    torch.save(lstm_state(0, 0.0), tmp_path / "run" / "ckpt_0000.pt")
    assert_bad_input(invoke("training", str(tmp_path / "run")), "same training step 0")


def test_the_losss_gradient_through_time_is_followed(serial: None, tmp_path: Path) -> None:
    import gradscope
    from gradscope.analysis.loss_gradient import LossSpec, loss_gradient

    folder = tmp_path / "run"
    folder.mkdir()
    for step, shift in ((0, 0.0), (10, -2.0)):
        torch.manual_seed(0)
        head = torch.nn.Linear(HIDDEN, 2).double()
        state = {f"rnn.{k}": v for k, v in lstm_state(0, shift).items()}
        state |= {f"head.{k}": v for k, v in head.state_dict().items()}
        torch.save(state, folder / f"model_{step}.pt")
    x = inputs_file(tmp_path)
    np.save(tmp_path / "y.npy", np.array([1]))
    arguments = ["--inputs", str(x), "--loss", "softmax_ce", "--targets", str(tmp_path / "y.npy"), "--head", "head."]
    result = invoke("training", str(folder), *arguments, "--json", "-")
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)["checkpoints"]
    for entry in entries:
        state = {k: v.numpy() for k, v in torch.load(entry["path"], weights_only=True).items()}
        params = {k.removeprefix("rnn."): v for k, v in state.items() if k.startswith("rnn.")}
        problem = gradscope.make_problem("lstm", params=params, inputs=np.load(x))
        spec = LossSpec("softmax_ce", "last", np.array([1]), state["head.weight"], state["head.bias"])
        expected = loss_gradient(problem, spec)  # equals PyTorch autograd (tests/analysis/test_loss_gradient.py)
        assert entry["loss_gradient"]["log10_norm"] == pytest.approx(list(expected.log10_norm), rel=1e-12)
        assert entry["loss_gradient"]["reduce"] == "last"
    table = invoke("training", str(folder), *arguments)
    assert "dL/dh rate" in table.stdout
    assert_bad_input(invoke("training", str(folder), "--loss", "mse"), "--targets")
    assert_bad_input(invoke("training", str(folder), *arguments[:-1], "decoder."), "decoder.", "output layer")
    np.save(tmp_path / "bad.npy", np.zeros((3, 3)))
    bad = ["--inputs", str(x), "--loss", "mse", "--targets", str(tmp_path / "bad.npy"), "--head", "head."]
    assert_bad_input(invoke("training", str(folder), *bad), "bad.npy", "targets")
