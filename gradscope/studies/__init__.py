"""Studies over many problems: sweeps over a grid of options, length studies, and where their tasks run."""

from gradscope.studies.axes import Axis, parse_axes, parse_axis, task_seed
from gradscope.studies.executors import DaskExecutor, LocalExecutor, SerialExecutor, make_executor
from gradscope.studies.length import LengthStudy, length_study
from gradscope.studies.sweep_result import SweepResult
from gradscope.studies.sweep_spec import SweepSpec, SweepTask
from gradscope.studies.sweeps import run_sweep, sweep

__all__ = [
    "Axis",
    "DaskExecutor",
    "LengthStudy",
    "LocalExecutor",
    "SerialExecutor",
    "SweepResult",
    "SweepSpec",
    "SweepTask",
    "length_study",
    "make_executor",
    "parse_axes",
    "parse_axis",
    "run_sweep",
    "sweep",
    "task_seed",
]
