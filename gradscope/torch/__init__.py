"""gradscope for PyTorch training loops: :class:`GradientFlowMonitor` measures the gradient's reach through time
while a model trains (``pip install torch``; the only place besides checkpoint reading and self-checks that
imports it).

>>> from gradscope.torch import GradientFlowMonitor  # doctest: +SKIP
>>> monitor = GradientFlowMonitor(model.rnn, inputs=probe, every=100, log="runs/flow.jsonl")  # doctest: +SKIP
>>> for step in range(steps):  # doctest: +SKIP
...     ...; optimizer.step(); monitor.step(step)
>>> monitor.close()  # then: gradscope training runs/flow.jsonl --plot flow.png  # doctest: +SKIP

The names are imported on first use, so that the monitor's worker process (:mod:`gradscope.torch.worker`)
starts without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["GradientFlowMonitor", "MonitorWarning"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("gradscope.torch.monitor"), name)
    raise AttributeError(f"module 'gradscope.torch' has no attribute {name!r}")
