"""Outputs are only ever regular files: a FIFO, a socket, a symbolic link (to a file, a folder or nothing), a
folder, or a path in a missing folder is refused before any work, and left as it was; an output that is an
input of the same run (by any spelling, a hard link, a link) or two outputs on one file are refused; the
gallery's folder must be a folder. Every case: exit 2, one line naming the path and the option, the tmp folder
unchanged (checksums), nothing written."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fault_helpers import expect_refused, snapshot
from fault_helpers import run as run_command

#: Commands that write --json and --plot, with the arguments of a tiny, fast problem.
COMMANDS = {
    "analyze": ["analyze", "--cell", "rnn", "-H", "3", "-T", "5"],
    "compare": ["compare", "--cells", "rnn,gru", "-H", "3", "-T", "5"],
    "explain": ["explain", "--cell", "lstm", "-H", "3", "-T", "5"],
    "lyapunov": ["lyapunov", "--cell", "rnn", "-H", "3", "-T", "20"],
}


def _fifo(path: Path) -> str:
    os.mkfifo(path)
    return "FIFO"


def _socket(path: Path) -> str:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()  # the socket file stays
    return "socket"


def _link_to_file(path: Path) -> str:
    target = path.with_name("precious.txt")
    target.write_text("keep me\n")
    path.symlink_to(target.name)
    return "symbolic link"


def _dangling_link(path: Path) -> str:
    path.symlink_to("nowhere.txt")
    return "symbolic link"


def _link_to_folder(path: Path) -> str:
    (path.parent / "folder").mkdir()
    path.symlink_to("folder")
    return "symbolic link"


def _folder(path: Path) -> str:
    path.mkdir()
    return "directory"


#: Things put at the output path, each returning a word the message must hold.
TARGETS: dict[str, Callable[[Path], str]] = {
    "fifo": _fifo,
    "socket": _socket,
    "link-to-file": _link_to_file,
    "dangling-link": _dangling_link,
    "link-to-folder": _link_to_folder,
    "folder": _folder,
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("option", ["--json", "--plot"])
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_only_regular_files_are_written(tmp_path: Path, command: str, option: str, target: str) -> None:
    path = tmp_path / ("out.png" if option == "--plot" else "out.json")
    word = TARGETS[target](path)
    expect_refused("outputs", tmp_path, *COMMANDS[command], option, path.name, culprit=(path.name, word))


@pytest.mark.parametrize("option", ["--json", "--plot"])
def test_paths_that_cannot_be_created(tmp_path: Path, option: str) -> None:
    name = "out.png" if option == "--plot" else "out.json"
    (tmp_path / "a-file").write_text("x\n")
    for where in (f"missing/{name}", f"a-file/{name}"):
        expect_refused("outputs", tmp_path, *COMMANDS["analyze"], option, where, culprit=where)
    expect_refused("outputs", tmp_path, *COMMANDS["analyze"], "--json", "", culprit="empty output path")


def rnn_files(folder: Path, hidden: int = 3, width: int = 2) -> dict[str, Path]:
    """A valid RNN checkpoint, input sequence and initial state in ``folder``."""
    rng = np.random.default_rng(0)
    weights = {
        "weight_ih_l0": rng.standard_normal((hidden, width)) / 2,
        "weight_hh_l0": rng.standard_normal((hidden, hidden)) / 2,
    }
    np.savez(folder / "w.npz", **weights)
    np.save(folder / "x.npy", rng.standard_normal((6, width)))
    np.save(folder / "h0.npy", rng.standard_normal(hidden))
    return {"--weights": folder / "w.npz", "--inputs": folder / "x.npy", "--h0": folder / "h0.npy"}


def spellings(folder: Path, path: Path) -> dict[str, str]:
    """Names of one file: itself, ./, sub/../, absolute, a hard link (in the folder, so the snapshot sees it)."""
    (folder / "sub").mkdir(exist_ok=True)
    hard = folder / f"hard-{path.name}"
    if not hard.exists():
        os.link(path, hard)
    return {
        "same": path.name,
        "dot": f"./{path.name}",
        "updown": f"sub/../{path.name}",
        "absolute": str(path),
        "hard link": hard.name,
    }


@pytest.mark.parametrize("command", ["analyze", "explain", "lyapunov"])
@pytest.mark.parametrize("source", ["--weights", "--inputs", "--h0"])
def test_an_output_that_is_an_input_is_refused(tmp_path: Path, command: str, source: str) -> None:
    inputs = rnn_files(tmp_path)
    base = [command, "--cell", "rnn", *(item for option, path in inputs.items() for item in (option, path.name))]
    for spelling in spellings(tmp_path, inputs[source]).values():
        expect_refused("outputs", tmp_path, *base, "--json", spelling, culprit=("--json", source))


def test_a_cell_file_is_an_input(tmp_path: Path) -> None:
    from gradscope.cells.spec import ZOO_FOLDER

    cell = tmp_path / "mycell.toml"
    cell.write_text((ZOO_FOLDER / "mgu.toml").read_text().replace('name = "mgu"', 'name = "mycell"'))
    for spelling in ("mycell.toml", "./mycell.toml", str(cell)):
        args = ("analyze", "--cell", "mycell.toml", "-H", "3", "-T", "5", "--json", spelling)
        expect_refused("outputs", tmp_path, *args, culprit=("--json", "cell file"))


def test_two_outputs_on_one_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"old")
    os.link(tmp_path / "a.png", tmp_path / "b.png")
    for json_name, plot_name in (
        ("a.png", "a.png"),
        ("./a.png", "a.png"),
        ("new.png", "sub/../new.png"),
        ("b.png", "a.png"),
    ):
        (tmp_path / "sub").mkdir(exist_ok=True)
        for command in ("analyze", "compare", "explain", "lyapunov"):
            args = (*COMMANDS[command], "--json", json_name, "--plot", plot_name)
            expect_refused("outputs", tmp_path, *args, culprit=("--json", "--plot"))


@pytest.mark.parametrize("out", ["", "a-file", "fifo", "dangling"])
def test_the_gallery_folder_must_be_a_folder(tmp_path: Path, out: str) -> None:
    (tmp_path / "a-file").write_text("x\n")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dangling").symlink_to("nowhere")
    culprit = "empty folder name" if out == "" else out
    expect_refused("outputs", tmp_path, "report", "--out", out, culprit=culprit)


def test_the_snapshot_sees_every_change(tmp_path: Path) -> None:
    """The checksums the suite relies on: a changed byte, a new temporary, a replaced link all show."""
    (tmp_path / "f").write_text("a")
    (tmp_path / "l").symlink_to("f")
    before = snapshot(tmp_path)
    (tmp_path / "f").write_text("b")
    assert snapshot(tmp_path) != before
    (tmp_path / "f").write_text("a")
    assert snapshot(tmp_path) == before
    (tmp_path / ".f.123.tmp").write_text("")
    assert snapshot(tmp_path) != before
    os.unlink(tmp_path / ".f.123.tmp")
    os.unlink(tmp_path / "l")
    (tmp_path / "l").write_text("a")  # a regular file where the link was, same content as its target
    assert snapshot(tmp_path) != before


@pytest.mark.parametrize("named", ["files", "glob", "folder"])
def test_a_training_runs_checkpoints_are_inputs(tmp_path: Path, named: str) -> None:
    """However the checkpoints are named (each file, a glob, their folder), an output over one is refused;
    other files in the folder (a previous summary) stay writable."""
    run = tmp_path / "run"
    run.mkdir()
    for step in (1, 2):
        rng = np.random.default_rng(step)
        np.savez(
            run / f"ck_{step}.npz", weight_ih_l0=rng.standard_normal((3, 2)), weight_hh_l0=rng.standard_normal((3, 3))
        )
    given = {"files": ["run/ck_1.npz", "run/ck_2.npz"], "glob": ["run/ck_*.npz"], "folder": ["run"]}[named]
    for spelling in ("run/ck_2.npz", "./run/ck_1.npz", "run/../run/ck_2.npz", str(run / "ck_1.npz")):
        args = ("training", *given, "--cell", "rnn", "--steps", "5", "--json", spelling)
        expect_refused("outputs", tmp_path, *args, culprit=("--json", "checkpoints"))
    (run / "summary.json").write_text("{}\n")
    result, caught = run_command(tmp_path, "training", *given, "--cell", "rnn", "--steps", "5", "--json",
                                 "run/summary.json", "--quiet")  # fmt: skip
    assert result.exit_code == 0 and not caught, result.output
    assert (run / "summary.json").read_text().startswith("{\n")


def test_the_file_of_a_verify_target_is_an_input(tmp_path: Path) -> None:
    """``--target FILE.py:FUNCTION`` reads FILE.py: an output over it is refused before the file is imported
    (importing it would create ``imported``)."""
    (tmp_path / "my_rnn.py").write_text("open('imported', 'w').close()\ndef backward(*args):\n    return {}\n")
    for spelling in ("my_rnn.py", "./my_rnn.py", str(tmp_path / "my_rnn.py")):
        args = ("verify", "--target", "my_rnn.py:backward", "--cell", "rnn", "--params", "Wxh,Whh,bh,Why,by")
        expect_refused("outputs", tmp_path, *args, "--json", spelling, culprit=("--json", "--target"))


@pytest.mark.parametrize("target", ["fifo", "link-to-file", "folder"])
def test_the_gallery_checks_every_file_before_writing_any(tmp_path: Path, target: str) -> None:
    """A FIFO, link or folder where the gallery's second file goes: refused, and the first is not written."""
    from fault_helpers import CASES

    from gradscope.files import FileError
    from gradscope.gallery.build import write_artifacts

    out = tmp_path / "reports"
    out.mkdir()
    TARGETS[target](out / "b.png")
    before = snapshot(tmp_path)
    with pytest.raises(FileError, match=r"b\.png"):
        write_artifacts([("a.png", b"first"), ("b.png", b"second")], out)
    assert snapshot(tmp_path) == before
    CASES["outputs"] += 1
