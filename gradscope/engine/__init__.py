"""The engine: forward trajectories, step Jacobians as operators, their products and norms, depth, BPTT.

One engine for every cell: what differs between an RNN, an LSTM and a Jordan network is the cell's
data (its partials, what its recurrence reads, its readout), never a class of its own here.
"""

from gradscope.engine.bptt import backward
from gradscope.engine.coefficients import StepCoefficients, dense_jacobians, step_coefficients
from gradscope.engine.depth import DepthProfile, depth_profiles, stacked_forward
from gradscope.engine.operator import StepOperator
from gradscope.engine.products import DTYPES, NORMS, NormProfile, norm_profile
from gradscope.engine.trajectory import Trajectory, run_forward

__all__ = [
    "DTYPES",
    "NORMS",
    "DepthProfile",
    "NormProfile",
    "StepCoefficients",
    "StepOperator",
    "Trajectory",
    "backward",
    "dense_jacobians",
    "depth_profiles",
    "norm_profile",
    "run_forward",
    "stacked_forward",
    "step_coefficients",
]
