"""An interrupted run leaves no partial file and no stray temporary. Subprocesses (signals need a process of
their own): a signal that arrives in the middle of a write (sent by the write itself, from inside ``fsync``)
is held until the file is complete and in place, then ends the run; and runs killed with SIGTERM at several
moments leave each output either absent or complete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fault_helpers import CASES

import gradscope

ROOT = Path(gradscope.__file__).resolve().parents[1]
ENV = os.environ | {"PYTHONPATH": str(ROOT), "GRADSCOPE_MEMORY_BUDGET": "256M", "LANGUAGE": "en"}

#: Runs gradscope with os.fsync patched to send the signal to the process itself halfway through each write
#: (after the bytes, before the file is moved into place) and to note that it did.
DRIVER = """
import os, signal, sys
from gradscope import cli
number = getattr(signal, sys.argv[1])
real_fsync = os.fsync
def fsync(descriptor):
    real_fsync(descriptor)
    with open("signalled", "a") as note:
        note.write(sys.argv[1] + "\\n")
    os.kill(os.getpid(), number)
os.fsync = fsync
sys.exit(cli.main(sys.argv[2:]))
"""

ARGS = ["analyze", "--cell", "lstm", "-H", "4", "-T", "30", "--quiet"]


def leftovers(folder: Path) -> list[str]:
    """Temporaries of the atomic writer (``.NAME.*.tmp``) or anything else hidden."""
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_signal_during_a_write_is_held_until_the_file_is_in_place(tmp_path: Path, name: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", DRIVER, name, *ARGS, "--json", "out.json"],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (tmp_path / "signalled").read_text() == f"{name}\n"  # the signal was sent during the write
    # The run ended because of the signal (SIGINT: Python's KeyboardInterrupt, "Aborted!", exit 1)...
    assert run.returncode in (-getattr(signal, name), 1, 130), (run.returncode, run.stderr)
    assert "Traceback" not in run.stderr
    # ... but only once the file was complete and in place, with no temporary left.
    document = json.loads((tmp_path / "out.json").read_text())
    assert document["cell"] == "lstm" and len(document["log10_norm"]) == 30
    assert leftovers(tmp_path) == []
    CASES["interrupts"] += 1


def test_runs_killed_at_any_moment_leave_complete_outputs_or_none(tmp_path: Path) -> None:
    """SIGTERM at several moments of one run (start-up, computing, writing the JSON and the figure): each
    output is absent or complete (JSON parses, the PNG ends with its IEND chunk), and no temporary is left."""
    for delay in (0.8, 1.8):  # during start-up or the computation, and about when the files are written
        for name in ("out.json", "out.png"):
            (tmp_path / name).unlink(missing_ok=True)
        process = subprocess.Popen(
            [sys.executable, "-m", "gradscope", *ARGS, "--json", "out.json", "--plot", "out.png"],
            cwd=tmp_path,
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(delay)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
        assert b"Traceback" not in stderr
        if (tmp_path / "out.json").exists():
            json.loads((tmp_path / "out.json").read_text())
        if (tmp_path / "out.png").exists():
            assert (tmp_path / "out.png").read_bytes().endswith(b"IEND\xaeB`\x82")
        assert leftovers(tmp_path) == []
        CASES["interrupts"] += 1
