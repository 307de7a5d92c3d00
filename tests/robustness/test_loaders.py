"""Loaders refuse what they cannot represent faithfully, naming the file and the entry, and never run code:
non-regular files (a FIFO must not hang the run), /proc files, complex, sparse, meta, quantized, nested and
pickled contents, object arrays; and generated malformed bytes (hypothesis): random bytes, every truncation
and random byte flips of valid .npz, .pt, .safetensors and .npy files."""

from __future__ import annotations

import functools
import os
import pickle
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from fault_helpers import expect_clean, expect_refused
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

H, I = 3, 2
FORMATS = (".npz", ".pt", ".safetensors")


def weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"weight_ih_l0": rng.standard_normal((H, I)) / 2, "weight_hh_l0": rng.standard_normal((H, H)) / 2}


def write_checkpoint(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """``arrays`` saved in the format ``path``'s suffix names."""
    if path.suffix == ".npz":
        np.savez(path, **arrays)
    elif path.suffix == ".pt":
        torch = pytest.importorskip("torch")
        torch.save({name: torch.from_numpy(value) for name, value in arrays.items()}, path)
    else:
        safetensors = pytest.importorskip("safetensors.numpy")
        safetensors.save_file(arrays, str(path))
    return path


def analyze(path: str, *more: str) -> tuple[str, ...]:
    option = "--inputs" if path.endswith(".npy") else "--weights"
    return ("analyze", "--cell", "rnn", option, path, "-T", "4", *more)


@pytest.mark.parametrize("option", ["--weights", "--inputs", "--h0"])
def test_files_that_are_not_regular_are_refused_without_opening(tmp_path: Path, option: str) -> None:
    os.mkfifo(tmp_path / "pipe.npz")  # opening it to read would block for ever
    (tmp_path / "folder.npz").mkdir()
    (tmp_path / "link.npz").symlink_to("pipe.npz")
    suffix = ".npz" if option == "--weights" else ".npy"
    cases = {"pipe.npz": "FIFO", "folder.npz": "directory", "link.npz": "FIFO", "missing.npz": "no such file"}
    for name, word in cases.items():
        if suffix == ".npy":
            os.rename(tmp_path / name, tmp_path / name.replace(".npz", ".npy")) if name != "missing.npz" else None
            name = name.replace(".npz", ".npy")
            if name == "link.npy":
                os.unlink(tmp_path / name)
                (tmp_path / name).symlink_to("pipe.npy")
        expect_refused("files", tmp_path, "analyze", "--cell", "rnn", "-H", "3", option, name, culprit=(name, word))
    expect_refused("files", tmp_path, "analyze", "--cell", "rnn", option, "/proc/self/status", culprit="/proc")


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")  # making one; not what is tested
def test_pytorch_contents_that_numpy_cannot_hold(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    base = {name: torch.from_numpy(value) for name, value in weights().items()}
    cases = {
        "complex": (base | {"weight_hh_l0": base["weight_hh_l0"].to(torch.complex128)}, "complex"),
        "sparse": (base | {"weight_hh_l0": base["weight_hh_l0"].to_sparse()}, "sparse"),
        "meta": (base | {"weight_hh_l0": torch.empty(H, H, device="meta")}, "meta"),
        "quantized": (
            base | {"weight_hh_l0": torch.quantize_per_tensor(base["weight_hh_l0"].float(), 0.1, 0, torch.qint8)},
            "quantized",
        ),
        "list": ([base["weight_hh_l0"]], "not a state_dict"),
        "number": (3, "not a state_dict"),
    }
    nested: dict = {"weight_hh_l0": base["weight_hh_l0"]}
    for _ in range(20):
        nested = {"deeper": nested}
    cases["nested"] = (nested, "nested more than")
    for name, (content, word) in cases.items():
        torch.save(content, tmp_path / f"{name}.pt")
        expect_refused("files", tmp_path, *analyze(f"{name}.pt"), culprit=(f"{name}.pt", word))


class Payload:
    """Unpickling this would create ``ran``: proof that code from a file was executed."""

    def __reduce__(self) -> tuple:
        return (open, ("ran", "w"))


def test_pickles_are_never_run(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.save({"weight_hh_l0": torch.zeros(H, H), "evil": Payload()}, tmp_path / "evil.pt")
    np.save(tmp_path / "evil.npy", np.array([Payload()], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "evil.npz", weight_hh_l0=np.array([Payload()], dtype=object))
    (tmp_path / "evil.pkl.npz").write_bytes(pickle.dumps(Payload()))
    for name, word in (("evil.pt", "Python objects"), ("evil.npz", "pickled"), ("evil.pkl.npz", "not an .npz")):
        expect_refused("files", tmp_path, *analyze(name), culprit=(name, word))
    expect_refused("files", tmp_path, *analyze("evil.npy"), culprit=("evil.npy", "pickled"))
    assert not (tmp_path / "ran").exists()


def test_numpy_contents_that_cannot_be_represented(tmp_path: Path) -> None:
    base = weights()
    np.savez(tmp_path / "complex.npz", **(base | {"weight_hh_l0": base["weight_hh_l0"] + 1j}))
    np.savez(tmp_path / "nan.npz", **(base | {"weight_hh_l0": np.full((H, H), np.nan)}))
    np.savez(tmp_path / "text.npz", **(base | {"weight_hh_l0": np.array(["a", "b"])}))
    with open(tmp_path / "array.npz", "wb") as handle:  # (np.save would add .npy to the name)
        np.save(handle, base["weight_hh_l0"])
    np.save(tmp_path / "complex.npy", np.ones((4, I)) * 1j)
    with open(tmp_path / "archive.npy", "wb") as handle:
        np.savez(handle, x=np.ones((4, I)))
    (tmp_path / "empty.npz").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    for name, word in (("complex.npz", "complex"), ("nan.npz", "NaN"), ("text.npz", "numeric"),
                       ("array.npz", "single .npy"), ("empty.npz", "no arrays"), ("complex.npy", "complex"),
                       ("archive.npy", ".npz archive")):  # fmt: skip
        expect_refused("files", tmp_path, *analyze(name), culprit=(name, word))
    for suffix in (".pt", ".safetensors"):
        complex_weights = base | {"weight_hh_l0": (base["weight_hh_l0"] + 1j).astype(np.complex64)}
        write_checkpoint(tmp_path / f"complex{suffix}", complex_weights)
        expect_refused("files", tmp_path, *analyze(f"complex{suffix}"), culprit=(f"complex{suffix}", "complex"))


# ---------------------------------------------------------------------------------------------------------
# Generated malformed files

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@functools.cache
def valid_files() -> dict[str, bytes]:
    """The bytes of a valid checkpoint per format (those whose writer is installed), and of a valid .npy."""
    folder = Path(tempfile.mkdtemp())
    found = {}
    for suffix in FORMATS:
        try:
            found[suffix] = write_checkpoint(folder / f"w{suffix}", weights()).read_bytes()
        except pytest.skip.Exception:
            continue
    np.save(folder / "x.npy", np.ones((4, I)))
    found[".npy"] = (folder / "x.npy").read_bytes()
    shutil.rmtree(folder)
    return found


@SETTINGS
@given(suffix=st.sampled_from([*FORMATS, ".npy"]), data=st.binary(max_size=600))
def test_random_bytes_are_refused(tmp_path: Path, suffix: str, data: bytes) -> None:
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    expect_refused("files", tmp_path, *analyze(path.name), culprit=path.name)


@SETTINGS
@given(suffix=st.sampled_from([*FORMATS, ".npy"]), fraction=st.floats(0.0, 1.0, exclude_max=True))
def test_every_truncation_is_refused(tmp_path: Path, suffix: str, fraction: float) -> None:
    if suffix not in valid_files():
        pytest.skip(f"no writer for {suffix} here")
    data = valid_files()[suffix]
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: int(fraction * len(data))])
    expect_refused("files", tmp_path, *analyze(path.name), culprit=path.name)


@SETTINGS
@given(
    suffix=st.sampled_from([*FORMATS, ".npy"]),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=4),
)
def test_byte_flips_are_a_result_or_a_clean_refusal(
    tmp_path: Path, suffix: str, flips: list[tuple[float, int]]
) -> None:
    """A flipped byte may land in the data (still a valid file, with other numbers), so a result is fine;
    anything else must be a clean refusal."""
    if suffix not in valid_files():
        pytest.skip(f"no writer for {suffix} here")
    data = bytearray(valid_files()[suffix])
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    path = tmp_path / f"flipped{suffix}"
    path.write_bytes(bytes(data))
    expect_clean("files", tmp_path, *analyze(path.name, "--json", "-"))


CELL = """name = "mine"
title = "A minimal gated unit under another name"
gates = ["f", "n"]
state = ["h"]

[projections]
n = "f * h_prev"

[equations]
f = "sigmoid(u_f + m_f)"
n = "{n}"
h = "(1 - f) * h_prev + f * n"
"""


def test_hostile_cell_files(tmp_path: Path) -> None:
    """Cell files are TOML text read by gradscope's own parser: a FIFO, a folder, binary, bad TOML, a huge file,
    and equations that try to run code, reach attributes or burn the CPU are refused naming the file."""
    os.mkfifo(tmp_path / "pipe.toml")
    (tmp_path / "folder.toml").mkdir()
    (tmp_path / "binary.toml").write_bytes(bytes(range(256)))
    (tmp_path / "bad.toml").write_text('name = "x"\n[[[')
    (tmp_path / "huge.toml").write_text("a = " + "[" * 50000 + "]" * 50000 + "\n")
    equations = {  # file: (the equation of n, a word the refusal names)
        "import.toml": ("__import__('os').system('touch ran')", "__import__"),
        "attribute.toml": ("tanh(u_n).real", "."),
        "exec.toml": ("exec('open(1)')", "exec"),
        "nested.toml": ("tanh(" * 40 + "u_n + m_n" + ")" * 40, "nested"),
        "number.toml": ("1e300**16 * (u_n + m_n)", "1e300"),
        "unknown.toml": ("foo(u_n + m_n)", "foo"),
    }
    for name, (equation, _) in equations.items():
        (tmp_path / name).write_text(CELL.format(n=equation.replace('"', "'")))
    files = {"pipe.toml": "regular", "folder.toml": "regular", "binary.toml": "UTF-8", "bad.toml": "TOML",
             "huge.toml": "bytes"} | {name: word for name, (_, word) in equations.items()}  # fmt: skip
    for name, word in files.items():
        expect_refused("cell files", tmp_path, "analyze", "--cell", name, "-H", "3", "-T", "5", culprit=(name, word),
                       lines=(1, 2, 3))  # fmt: skip
    assert not (tmp_path / "ran").exists()
    (tmp_path / "fine.toml").write_text(CELL.format(n="tanh(u_n + m_n)"))
    assert expect_clean("cell files", tmp_path, "analyze", "--cell", "fine.toml", "-H", "3", "-T", "5").exit_code == 0
