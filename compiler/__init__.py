"""nnd: a declarative language for neural network architectures, compiled to ONNX.

The Python API (see api.py): `nnd.check`, `nnd.compile`, `nnd.save`.
"""

from .api import CheckResult, CompileFailed, WeightError, check, compile, save  # noqa: F401

__all__ = ["check", "compile", "save", "CheckResult", "CompileFailed", "WeightError"]
