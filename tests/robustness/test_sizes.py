"""Sizes are checked against the memory budget (GRADSCOPE_MEMORY_BUDGET) before anything is allocated or
decompressed: huge --hidden-size/--steps/--input-size/--num-layers name the sizes and the memory they would
need (at least what their weights alone take, counted here by hand); the budget is configurable and a bad
value of it is named; an .npz whose small compressed members declare huge arrays, and a deflated .pt, are
refused before decompression (tracemalloc: the refusal's peak stays far below what the arrays would take)."""

from __future__ import annotations

import io
import re
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fault_helpers import expect_clean, expect_refused
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradscope.errors import GradscopeError

UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50}


def stated_bytes(message: str) -> float:
    """The bytes a message says would be needed ("would need about 3.2 GiB")."""
    match = re.search(r"would need about ([\d.]+) (\w+)", message)
    assert match, message
    return float(match.group(1)) * UNITS[match.group(2)]


#: (options, gates G, H, I, layers L, directions D) of huge requests; default H 64, I 32.
HUGE = [
    (["--cell", "rnn", "-H", "100000000"], 1, 10**8, 32, 1, 1),
    (["--cell", "lstm", "-H", "30000"], 4, 30000, 32, 1, 1),
    (["--cell", "gru", "-I", "1000000000"], 3, 64, 10**9, 1, 1),
    (["--cell", "rnn", "-T", "10000000000"], 1, 64, 32, 1, 1),
    (["--cell", "lstm", "-H", "2000", "-L", "40", "--bidirectional"], 4, 2000, 32, 40, 2),
    (["--cell", "gru", "-L", "1000000"], 3, 64, 32, 10**6, 1),
]


@pytest.mark.parametrize(
    ("command", "case"),
    [
        (command, case)
        for case in range(len(HUGE))
        for command in ("analyze", "lyapunov", "explain")
        if command == "analyze" or HUGE[case][4:] == (1, 1)  # lyapunov, explain: one layer, one direction
    ],
)
def test_huge_sizes_name_the_memory_they_would_need(tmp_path: Path, command: str, case: int) -> None:
    options, gates, hidden, width, layers, directions = HUGE[case]
    message = expect_refused(
        "sizes", tmp_path, command, *options, culprit=(f"hidden size {hidden}", "GRADSCOPE_MEMORY_BUDGET")
    )
    # The weights alone, counted by hand: G H (H + I) for the first layer, G H (H + D H) above, per direction.
    weights = 8 * directions * gates * hidden * ((hidden + width) + (layers - 1) * (hidden + directions * hidden))
    assert stated_bytes(message) >= weights


def test_other_counts_that_multiply_memory(tmp_path: Path) -> None:
    """--samples holds every draw at once (each at least its inputs, T x I numbers); the Jordan cell's
    --output-size is its state's size (at least O x H readout weights)."""
    message = expect_refused("sizes", tmp_path, "analyze", "--cell", "rnn", "-H", "3", "-T", "5", "--samples",
                             "1000000000", culprit=("1000000000 samples", "memory"))  # fmt: skip
    assert stated_bytes(message) >= 10**9 * 5 * 32 * 8
    message = expect_refused("sizes", tmp_path, "analyze", "--cell", "jordan", "-H", "3", "-T", "5",
                             "--output-size", "100000000000", culprit="output size 100000000000")  # fmt: skip
    assert stated_bytes(message) >= 8 * 2 * 10**11 * 3


def test_the_depth_guard_speaks_before_the_forward_pass(tmp_path: Path) -> None:
    """A 3-layer bidirectional GRU, H=100, T=1000 fits the 256M budget, but its depth profiles hold
    2 T (2H)^2 float64 = 610 MiB: refused at once (it used to speak after the whole forward pass)."""
    import time

    start = time.perf_counter()
    message = expect_refused("sizes", tmp_path, "analyze", "--cell", "gru", "-H", "100", "-L", "3",
                             "--bidirectional", "-T", "1000", culprit="depth profiles")  # fmt: skip
    assert stated_bytes(message) == pytest.approx(2 * 1000 * 200**2 * 8, rel=1e-3)
    assert time.perf_counter() - start < 3


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    option=st.sampled_from(["-H", "-I", "-T", "-L"]),
    size=st.integers(10**7, 10**18),
    cell=st.sampled_from(["rnn", "lstm", "gru", "mgu"]),
)
def test_any_huge_size_is_refused_before_allocation(tmp_path: Path, option: str, size: int, cell: str) -> None:
    expect_refused("sizes", tmp_path, "analyze", "--cell", cell, option, str(size), culprit=(str(size), "memory"))


@pytest.mark.parametrize("value", ["abc", "-5", "0", "12X", "1e400", "nan", "G"])
def test_a_bad_budget_is_named(tmp_path: Path, value: str) -> None:
    env = {"GRADSCOPE_MEMORY_BUDGET": value}
    expect_refused("sizes", tmp_path, "analyze", "--cell", "rnn", "-H", "3", "-T", "5", env=env,
                   culprit="GRADSCOPE_MEMORY_BUDGET")  # fmt: skip


def test_the_budget_is_what_the_variable_says(tmp_path: Path) -> None:
    """H=64, I=32, T=200 (the defaults) hold 6144 weights and 2 T (64 + 64 + 32) forward numbers, over 0.5 MB:
    a 100K budget refuses them, 64M runs them; units K, M, G and a plain byte count are read alike."""
    args = ("analyze", "--cell", "rnn", "--json", "-")
    for budget in ("100K", "102400", "0.09765625M", "100KiB"):
        message = expect_refused("sizes", tmp_path, *args, env={"GRADSCOPE_MEMORY_BUDGET": budget},
                                 culprit="over the budget of 100.0 KiB")  # fmt: skip
        assert stated_bytes(message) >= 8 * (6144 + 2 * 200 * (64 + 64 + 32))
    for budget in ("64M", "1G", "67108864"):
        assert expect_clean("sizes", tmp_path, *args, env={"GRADSCOPE_MEMORY_BUDGET": budget}).exit_code == 0


def npz_declaring(path: Path, shape: tuple[int, ...], stored: int = 16) -> None:
    """An .npz whose one member's .npy header declares ``shape`` (float64) but holds ``stored`` bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("weight_hh_l0.npy", header.getvalue() + b"\0" * stored)


def test_a_header_declaring_a_huge_array_is_refused_before_decompression(tmp_path: Path) -> None:
    npz_declaring(tmp_path / "liar.npz", (100000, 100000))
    for command in ("analyze", "lyapunov", "explain"):
        expect_refused("sizes", tmp_path, command, "--cell", "rnn", "--weights", "liar.npz",
                       culprit=("liar.npz", "weight_hh_l0", "(100000, 100000)", "holds only"))  # fmt: skip


@pytest.mark.parametrize("option", ["--inputs", "--h0"])
def test_an_npy_header_declaring_a_huge_array_is_refused_before_allocation(tmp_path: Path, option: str) -> None:
    """NumPy allocates what an .npy header declares before reading: 74.5 GiB for 64 bytes of data, refused
    from the header (tracemalloc: a tiny peak), as is a real array over the budget."""
    from gradscope import files

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (100000, 100000)})
    (tmp_path / "liar.npy").write_bytes(header.getvalue() + b"\0" * 64)
    expect_refused("sizes", tmp_path, "analyze", "--cell", "rnn", option, "liar.npy",
                   culprit=("liar.npy", "(100000, 100000)", "74.5 GiB", "holds only 64 B"))  # fmt: skip
    np.save(tmp_path / "big.npy", np.zeros((20000, 32)))
    expect_refused("sizes", tmp_path, "analyze", "--cell", "rnn", option, "big.npy",
                   env={"GRADSCOPE_MEMORY_BUDGET": "1M"}, culprit=("big.npy", "would need about 4.9 MiB"))  # fmt: skip
    tracemalloc.start()
    with pytest.raises(GradscopeError, match="holds only"):
        files.load_npy(tmp_path / "liar.npy", "inputs")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1_000_000


def test_a_compressed_bomb_is_refused_before_decompression(tmp_path: Path) -> None:
    """Zeros compress about 1000:1: a 20 KB file that is 32 MB of arrays, over an 8 MB budget."""
    from gradscope import files

    np.savez_compressed(tmp_path / "bomb.npz", weight_hh_l0=np.zeros((2000, 2000)), weight_ih_l0=np.zeros((2000, 3)))
    assert (tmp_path / "bomb.npz").stat().st_size < 100_000
    env = {"GRADSCOPE_MEMORY_BUDGET": "8M"}
    for command in ("analyze", "lyapunov", "explain"):
        expect_refused("sizes", tmp_path, command, "--cell", "rnn", "--weights", "bomb.npz", env=env,
                       culprit=("bomb.npz", "would need about 30.6 MiB", "8.0 MiB"))  # fmt: skip
    tracemalloc.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADSCOPE_MEMORY_BUDGET", "8M")
        with pytest.raises(GradscopeError, match="would need"):
            files.load_npz(tmp_path / "bomb.npz")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2_000_000  # nothing near the 32 MB of the arrays was allocated


def test_a_deflated_torch_checkpoint_is_refused_before_loading(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.save({"weight_hh_l0": torch.zeros(1500, 1500), "weight_ih_l0": torch.zeros(1500, 3)}, tmp_path / "raw.pt")
    with (
        zipfile.ZipFile(tmp_path / "raw.pt") as source,
        zipfile.ZipFile(tmp_path / "bomb.pt", "w", compression=zipfile.ZIP_DEFLATED) as bomb,
    ):
        for member in source.infolist():
            bomb.writestr(member.filename, source.read(member.filename))
    (tmp_path / "raw.pt").unlink()
    assert (tmp_path / "bomb.pt").stat().st_size < 100_000
    assert torch.load(tmp_path / "bomb.pt", weights_only=True)["weight_hh_l0"].shape == (1500, 1500)  # torch reads it
    expect_refused("sizes", tmp_path, "analyze", "--cell", "rnn", "--weights", "bomb.pt",
                   env={"GRADSCOPE_MEMORY_BUDGET": "8M"}, culprit=("bomb.pt", "its tensors would need"))  # fmt: skip
