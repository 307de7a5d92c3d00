"""Start-up time of the command line against the bare imports it cannot avoid.

Runs, interleaved in one session so that machine load affects all alike, fresh processes of

* ``python -c "import numpy, sympy, rich"`` (the baseline),
* ``gradscope analyze --cell lstm`` at its defaults (H=64, T=200, report to a pipe),
* ``gradscope --help``,

and prints the median and minimum wall time of each and the ratio ``analyze / baseline``
(target: at most 1.3; the symbolic derivation and lambdify must not dominate start-up).

Usage: ``python benchmarks/startup.py [--repeat N]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

TARGET_RATIO = 1.3


def gradscope_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m gradscope``."""
    script = shutil.which("gradscope", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "gradscope"]


def commands() -> dict[str, list[str]]:
    cli = gradscope_command()
    return {
        "import numpy, sympy, rich": [sys.executable, "-c", "import numpy, sympy, rich"],
        "gradscope analyze --cell lstm": [*cli, "analyze", "--cell", "lstm"],
        "gradscope --help": [*cli, "--help"],
    }


def wall_time(command: list[str]) -> float:
    """Seconds for one fresh process to run ``command`` to completion (output discarded)."""
    env = os.environ | {"NO_COLOR": "1", "COLUMNS": "80"}
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - start


def measure(repeat: int) -> dict[str, list[float]]:
    """Wall times of every command, ``repeat`` rounds, interleaved, after one discarded warm-up round."""
    cmds = commands()
    for command in cmds.values():
        wall_time(command)  # warm the file cache and bytecode caches
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(repeat):
        for name, command in cmds.items():
            times[name].append(wall_time(command))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="rounds of measurements (default 7)")
    args = parser.parse_args(argv)
    times = measure(max(1, args.repeat))
    baseline = statistics.median(times["import numpy, sympy, rich"])
    print(f"{'command':34s} {'median s':>9s} {'min s':>8s} {'ratio':>7s}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:34s} {median:9.3f} {min(values):8.3f} {median / baseline:7.2f}")
    ratio = statistics.median(times["gradscope analyze --cell lstm"]) / baseline
    verdict = "OK" if ratio <= TARGET_RATIO else "ABOVE TARGET"
    print(f"\nanalyze / baseline (medians): {ratio:.2f} (target <= {TARGET_RATIO}) {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
