"""Unit-test hand-written backpropagation through time against exact reference gradients."""

from gradscope.testing.comparison import *  # noqa: F403
from gradscope.testing.comparison import __all__, __getattr__  # noqa: F401
