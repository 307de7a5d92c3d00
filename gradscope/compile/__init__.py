"""Compiled cells: the one place SymPy expressions become NumPy code, and the shipped generated code."""

from gradscope.compile.cache import LIVE_ENV, compile_cell
from gradscope.compile.compiled import BlockFormula, CompiledCell, PartialKey

__all__ = ["LIVE_ENV", "BlockFormula", "CompiledCell", "PartialKey", "compile_cell"]
