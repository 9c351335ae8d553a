"""nnd: a declarative language for neural network architectures, compiled to ONNX.

The Python API (see api.py): `nnd.check`, `nnd.compile`, `nnd.save`,
`nnd.summary` (the per-layer table as data); and `nnd.load`
(runtime/model.py) to run a model with onnxruntime, which is imported only
then: `import nnd` never imports onnxruntime.
"""

from .api import CheckResult, CompileFailed, WeightError, check, compile, save, summary  # noqa: F401

__all__ = ["check", "compile", "save", "load", "summary", "CheckResult", "CompileFailed", "WeightError"]


def __getattr__(name):
    if name == "load":
        from .runtime.model import load
        return load
    raise AttributeError(f"module 'nnd' has no attribute {name!r}")
