"""Tests of gradscope.files: safe loading (never unpickling), validation with file names, atomic writes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

import gradscope
from gradscope import files as io
from gradscope.analysis.comparison import COMPARISON_SCHEMA, Comparison
from gradscope.cells.spec import CellSpec
from gradscope.compile import compile_cell
from gradscope.errors import ConfigError, GradscopeError, NonFiniteError, ParameterError, ShapeError
from gradscope.files import output as writer


def spec(name: str) -> CellSpec:
    return compile_cell(name).spec


class Payload:
    """Unpickling this creates ``marker``: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def lstm_arrays(hidden: int = 3, width: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "weight_ih_l0": rng.standard_normal((4 * hidden, width)),
        "weight_hh_l0": rng.standard_normal((4 * hidden, hidden)),
        "bias_ih_l0": rng.standard_normal(4 * hidden),
        "bias_hh_l0": rng.standard_normal(4 * hidden),
    }


# ---------------------------------------------------------------------------------------------
# load_npz / load_npy


def test_load_npz_returns_the_saved_arrays_as_float64(tmp_path: Path) -> None:
    arrays = lstm_arrays() | {"counts": np.arange(6, dtype=np.int32)}
    path = tmp_path / "w.npz"
    np.savez(path, **arrays)
    loaded = io.load_npz(path)
    assert set(loaded) == set(arrays)
    for name, value in arrays.items():
        assert loaded[name].dtype == np.float64
        np.testing.assert_array_equal(loaded[name], value)


def test_load_npz_missing_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.npz"
    with pytest.raises(io.FileError, match=r"absent\.npz: no such file"):
        io.load_npz(path)


def test_load_npz_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(io.FileError, match="is a directory"):
        io.load_npz(tmp_path)


def test_load_npz_unreadable_file_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.npz"
    np.savez(path, **lstm_arrays())

    def denied(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(io.FileError, match=r"locked\.npz: cannot read \(Permission denied\)"):
        io.load_npz(path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_load_npz_without_read_permission(tmp_path: Path) -> None:
    path = tmp_path / "locked.npz"
    np.savez(path, **lstm_arrays())
    path.chmod(0)
    try:
        with pytest.raises(io.FileError, match="cannot read"):
            io.load_npz(path)
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_load_npz_refuses_a_single_npy(tmp_path: Path) -> None:
    path = tmp_path / "w.npy"
    np.save(path, np.zeros((4, 2)))
    with pytest.raises(io.FileError, match=r"w\.npy: is a single \.npy array, not an \.npz archive"):
        io.load_npz(path)


def test_load_npz_refuses_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    path.write_text("weight_ih_l0 = [[1, 2]]")
    with pytest.raises(io.FileError, match=r"w\.npz: not an \.npz archive"):
        io.load_npz(path)


def test_load_npz_refuses_an_empty_archive(tmp_path: Path) -> None:
    path = tmp_path / "empty.npz"
    np.savez(path)
    with pytest.raises(io.FileError, match="no arrays"):
        io.load_npz(path)


def test_load_npz_never_unpickles(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.npz"
    np.savez(path, weight_ih_l0=np.array([Payload(marker)], dtype=object))
    with pytest.raises(io.FileError, match=r"evil\.npz: holds pickled Python objects; refused"):
        io.load_npz(path)
    assert not marker.exists()


def test_load_npz_non_numeric_array_names_file_and_array(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    np.savez(path, weight_ih_l0=np.array(["1.0", "2.0"]))
    with pytest.raises(ParameterError, match=r"w\.npz: weight_ih_l0: expected a numeric array"):
        io.load_npz(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_load_npz_non_finite_names_file_and_array(tmp_path: Path, bad: float) -> None:
    arrays = lstm_arrays()
    arrays["bias_hh_l0"][[1, 4]] = bad
    path = tmp_path / "w.npz"
    np.savez(path, **arrays)
    with pytest.raises(NonFiniteError, match=r"w\.npz: bias_hh_l0: contains 2 NaN or infinite values"):
        io.load_npz(path)


def test_load_npy_round_trip(tmp_path: Path) -> None:
    value = np.random.default_rng(1).standard_normal((5, 3))
    np.save(tmp_path / "x.npy", value)
    np.testing.assert_array_equal(io.load_npy(tmp_path / "x.npy", "inputs"), value)


def test_load_npy_refuses_npz(tmp_path: Path) -> None:
    np.savez(tmp_path / "x.npz", a=np.zeros(3))
    with pytest.raises(io.FileError, match=r"x\.npz: is an \.npz archive; inputs must be a single \.npy"):
        io.load_npy(tmp_path / "x.npz", "inputs")


def test_load_npy_refuses_a_plain_pickle_without_running_it(tmp_path: Path) -> None:
    import pickle

    marker = tmp_path / "code-ran"
    path = tmp_path / "x.npy"
    path.write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(io.FileError, match=r"x\.npy: not a NumPy \.npy file"):
        io.load_npy(path, "inputs")
    assert not marker.exists()


def test_load_npy_refuses_object_arrays_without_running_them(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / "x.npy"
    np.save(path, np.array([Payload(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(io.FileError, match="pickled Python objects"):
        io.load_npy(path, "h0")
    assert not marker.exists()


def test_load_npy_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((50, 4)))
    path.write_bytes(path.read_bytes()[:200])  # a 128-byte header and 72 of the 1600 data bytes
    with pytest.raises(io.FileError, match=r"x\.npy: inputs: declares shape \(50, 4\) .* holds only 72 B; truncated"):
        io.load_npy(path, "inputs")


# ---------------------------------------------------------------------------------------------
# load_weights / load_inputs / load_state


def test_load_weights_sizes_from_shapes(tmp_path: Path) -> None:
    arrays = lstm_arrays(hidden=5, width=7)
    np.savez(tmp_path / "w.npz", **arrays)
    loaded = io.load_weights(tmp_path / "w.npz", spec("lstm"))
    assert (loaded.hidden_size, loaded.input_size, loaded.num_layers, loaded.bidirectional) == (5, 7, 1, False)
    assert loaded.as_dict().keys() == arrays.keys()
    for name, value in loaded.as_dict().items():
        np.testing.assert_array_equal(value, arrays[name])


def test_load_weights_missing_names(tmp_path: Path) -> None:
    arrays = lstm_arrays()
    del arrays["weight_hh_l0"]
    np.savez(tmp_path / "w.npz", **arrays)
    with pytest.raises(ParameterError, match=r"w\.npz: lstm parameters: missing weight_hh_l0") as caught:
        io.load_weights(tmp_path / "w.npz", spec("lstm"))
    assert isinstance(caught.value, GradscopeError)


def test_load_weights_multilayer_shape_mismatch_names_the_layer(tmp_path: Path) -> None:
    arrays = lstm_arrays() | {"weight_ih_l1": np.zeros((12, 3)), "weight_hh_l1": np.zeros((12, 3))}
    np.savez(tmp_path / "w.npz", **arrays)
    arrays["weight_ih_l1"] = np.zeros((12, 5))
    arrays |= {"bias_ih_l1": np.zeros(12), "bias_hh_l1": np.zeros(12)}
    np.savez(tmp_path / "w.npz", **arrays)
    with pytest.raises(ParameterError, match=r"w\.npz: weight_ih_l1: expected input width 3 and hidden size 3"):
        io.load_weights(tmp_path / "w.npz", spec("lstm"))


def test_load_weights_wrong_shape_expected_vs_actual(tmp_path: Path) -> None:
    arrays = lstm_arrays(hidden=3, width=2)
    arrays["weight_ih_l0"] = np.zeros((11, 2))
    np.savez(tmp_path / "w.npz", **arrays)
    with pytest.raises(ShapeError, match=r"w\.npz: weight_ih_l0: expected shape \(12, 2\), got \(11, 2\)"):
        io.load_weights(tmp_path / "w.npz", spec("lstm"))


def test_load_weights_for_the_wrong_cell(tmp_path: Path) -> None:
    np.savez(tmp_path / "w.npz", **lstm_arrays(hidden=3))
    with pytest.raises(ShapeError, match=r"w\.npz: weight_hh_l0: expected shape \(3\*H, H\) for gru"):
        io.load_weights(tmp_path / "w.npz", spec("gru"))


def test_load_inputs_checks_width_and_names_the_source(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((10, 5)))
    assert io.load_inputs(tmp_path / "x.npy", 5).shape == (10, 5)
    assert io.load_inputs(tmp_path / "x.npy", None).shape == (10, 5)
    with pytest.raises(ShapeError, match=r"x\.npy: inputs: expected shape \(T, 4\), input_size 4 from w\.npz, got"):
        io.load_inputs(tmp_path / "x.npy", 4, "w.npz")


@pytest.mark.parametrize("shape", [(10,), (2, 3, 4), (0, 5)])
def test_load_inputs_bad_rank_or_empty(tmp_path: Path, shape: tuple[int, ...]) -> None:
    np.save(tmp_path / "x.npy", np.zeros(shape))
    with pytest.raises(ShapeError, match=r"x\.npy: inputs"):
        io.load_inputs(tmp_path / "x.npy", None)


@pytest.mark.parametrize("shape", [(4,), (1, 4), (1, 1, 4)])
def test_load_state_accepts_pytorch_shapes(tmp_path: Path, shape: tuple[int, ...]) -> None:
    value = np.arange(4.0).reshape(shape)
    np.save(tmp_path / "h0.npy", value)
    np.testing.assert_array_equal(io.load_state(tmp_path / "h0.npy", "h0", 4), np.arange(4.0))


@pytest.mark.parametrize("shape", [(5,), (2, 4), ()])
def test_load_state_wrong_shape(tmp_path: Path, shape: tuple[int, ...]) -> None:
    np.save(tmp_path / "h0.npy", np.zeros(shape))
    with pytest.raises(ShapeError, match=r"h0\.npy: h0: expected shape \(4,\)"):
        io.load_state(tmp_path / "h0.npy", "h0", 4)


# ---------------------------------------------------------------------------------------------
# load_problem_files


def test_problem_files_sizes_come_from_inputs_and_h0(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((9, 3)))
    np.save(tmp_path / "h0.npy", np.zeros(5))
    np.save(tmp_path / "c0.npy", np.zeros(5))
    files = io.load_problem_files(
        spec("lstm"), inputs=tmp_path / "x.npy", h0=tmp_path / "h0.npy", c0=tmp_path / "c0.npy"
    )
    assert (files.input_size, files.hidden_size) == (3, 5)
    assert set(files.sources) == {"inputs", "h0", "c0"}
    # The engine accepts exactly these: its result has the sizes of the files.
    result = gradscope.analyze("lstm", inputs=files.inputs, h0=files.h0, c0=files.c0, hidden_size=5, input_size=3)
    assert (result.hidden_size, result.input_size, result.steps) == (5, 3, 9)


def test_problem_files_c0_must_match_h0(tmp_path: Path) -> None:
    np.save(tmp_path / "h0.npy", np.zeros(5))
    np.save(tmp_path / "c0.npy", np.zeros(4))
    with pytest.raises(ShapeError, match=r"c0\.npy: c0: expected shape \(5,\), hidden_size 5 from h0 .*h0\.npy"):
        io.load_problem_files(spec("lstm"), h0=tmp_path / "h0.npy", c0=tmp_path / "c0.npy")


def test_problem_files_files_must_match_the_weights(tmp_path: Path) -> None:
    np.savez(tmp_path / "w.npz", **lstm_arrays(hidden=3, width=2))
    np.save(tmp_path / "x.npy", np.zeros((6, 4)))
    np.save(tmp_path / "h0.npy", np.zeros(4))
    with pytest.raises(ShapeError, match=r"x\.npy: inputs: expected shape \(T, 2\), input_size 2 from the weights"):
        io.load_problem_files(spec("lstm"), weights=tmp_path / "w.npz", inputs=tmp_path / "x.npy")
    with pytest.raises(ShapeError, match=r"h0\.npy: h0: expected shape \(3,\), hidden_size 3 from the weights"):
        io.load_problem_files(spec("lstm"), weights=tmp_path / "w.npz", h0=tmp_path / "h0.npy")


def test_problem_files_explicit_sizes_are_passed_on(tmp_path: Path) -> None:
    np.savez(tmp_path / "w.npz", **lstm_arrays(hidden=3, width=2))
    files = io.load_problem_files(spec("lstm"), weights=tmp_path / "w.npz", hidden_size=7)
    assert files.hidden_size == 7  # the engine reports the contradiction
    with pytest.raises(ConfigError, match="hidden_size=7 contradicts the parameters"):
        gradscope.analyze("lstm", params=files.params, hidden_size=files.hidden_size)


def test_problem_files_c0_for_a_cell_without_c(tmp_path: Path) -> None:
    np.save(tmp_path / "c0.npy", np.zeros(4))
    with pytest.raises(ConfigError, match="--c0 given, but the gru cell has no c state"):
        io.load_problem_files(spec("gru"), c0=tmp_path / "c0.npy")


# ---------------------------------------------------------------------------------------------
# Writing


def test_check_output_path_errors(tmp_path: Path) -> None:
    with pytest.raises(io.FileError, match=r"cannot write: directory .*nodir does not exist"):
        io.check_output_path(tmp_path / "nodir" / "out.json")
    with pytest.raises(io.FileError, match="is a directory"):
        io.check_output_path(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(io.FileError, match="is not a directory"):
        io.check_output_path(tmp_path / "file" / "out.json")
    assert io.check_output_path(tmp_path / "out.json") == tmp_path / "out.json"


def test_write_text_atomic_writes_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    io.write_text_atomic(path, "first\n")
    assert path.read_text() == "first\n"
    io.write_text_atomic(path, "second\n")
    assert path.read_text() == "second\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_write_text_atomic_new_file_mode_follows_the_umask(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    reference.write_text("x")  # created the ordinary way: 0o666 & ~umask
    io.write_text_atomic(tmp_path / "out.json", "{}")
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == stat.S_IMODE(reference.stat().st_mode)


def test_write_text_atomic_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    path.write_text("old")
    path.chmod(0o640)
    io.write_text_atomic(path, "new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_write_text_atomic_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.json"

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer.os, "replace", full_disk)
    with pytest.raises(io.FileError, match=r"out\.json: cannot write \(No space left on device\)"):
        io.write_text_atomic(path, "x" * 10_000)
    assert list(tmp_path.iterdir()) == []


def test_write_text_atomic_failure_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.json"
    path.write_text("old")

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(writer.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        io.write_text_atomic(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_to_json_is_strict_and_round_trips() -> None:
    document = {"a": [1.5, None, 3], "b": {"c": "d"}}
    assert json.loads(io.to_json(document)) == document
    assert io.to_json(document).endswith("\n")
    with pytest.raises(RuntimeError, match="not valid JSON"):
        io.to_json({"x": float("nan")})


def test_about_file_keeps_the_error_type() -> None:
    with pytest.raises(ShapeError, match=r"^f\.npy: h0: bad$"), io.about_file("f.npy"):
        raise ShapeError("h0: bad")


def test_comparison_document_holds_each_analysis() -> None:
    results = [gradscope.analyze(cell, hidden_size=3, input_size=2, steps=6) for cell in ("rnn", "gru")]
    document = json.loads(io.to_json(Comparison(tuple(results)).to_dict()))
    assert document["schema"] == COMPARISON_SCHEMA
    assert document["gradscope_version"] == gradscope.__version__
    assert document["cells"] == ["rnn", "gru"]
    assert document["analyses"] == [json.loads(json.dumps(r.to_dict())) for r in results]
