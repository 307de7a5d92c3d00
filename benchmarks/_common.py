"""What every benchmark here shares: the machine's BLAS and threads, and interleaved child runs.

A benchmark runs each method in its own subprocess (so that peak memory is its own), over several
rounds that interleave the methods (the machine is shared and noisy: load hits them all alike), and
compares the best time of each. ``--tree PATH`` (repeatable) runs the gradscope methods once per
checkout, with ``PYTHONPATH=PATH``, in the same rounds: before/after comparisons from one run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")


def machine() -> str:
    """One line: the BLAS NumPy uses, its thread count and the thread variables set (or unset)."""
    import numpy as np

    blas = "unknown BLAS"
    try:
        config = np.show_config(mode="dicts")
        info = config["Build Dependencies"]["blas"]
        blas = f"{info.get('name', '?')} {info.get('version', '')}".strip()
    except Exception:  # a description, never a reason to fail
        pass
    threads = blas_threads()
    variables = ", ".join(f"{name}={os.environ.get(name, 'unset')}" for name in THREAD_VARIABLES)
    return f"NumPy {np.__version__}, BLAS {blas}, BLAS threads {threads}, {variables}, {os.cpu_count()} CPUs"


def blas_threads() -> str:
    """The OpenBLAS thread count, asked of the library NumPy loaded (``?`` where that is not OpenBLAS)."""
    import ctypes

    import numpy as np  # noqa: F401 - loads the BLAS

    try:
        with open("/proc/self/maps") as maps:
            paths = sorted(
                {line.split()[-1] for line in maps if "openblas" in line and line.split()[-1].startswith("/")}
            )
    except OSError:
        return "?"
    for path in paths:
        library = ctypes.CDLL(path)
        for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads"):
            if hasattr(library, name):
                return str(getattr(library, name)())
    return "?"


def run_child(script: str, arguments: Sequence[str], tree: str | None = None) -> dict[str, float]:
    """Run ``script --child ...`` in a fresh interpreter (with ``tree`` first on ``PYTHONPATH``);
    its last stdout line is a JSON object."""
    environment = dict(os.environ)
    if tree is not None:
        environment["PYTHONPATH"] = os.path.abspath(tree)
    command = [sys.executable, script, *arguments]
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def label(tree: str | None) -> str:
    """A short name for a checkout (its directory name), or ``""`` for the current one."""
    return "" if tree is None else f"@{os.path.basename(os.path.abspath(tree))}"


def peak_bytes() -> int:
    """This process's peak resident memory (Linux reports kilobytes)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
