"""torchvision's own model definitions, the independent reference for whole
networks.

The torchvision 0.28.0 wheel on PyPI is built against a CUDA build of torch
2.13; beside the CPU build the tests install, its C++ extension (detection
ops such as nms) cannot load, and `import torchvision` then fails where it
registers fake kernels for `torchvision::nms` and `qnms`. The classifiers are
plain Python over torch, so declaring those two operators' schemas first (no
kernel: nothing here runs them) lets torchvision import, and its models run
unchanged.
"""

from __future__ import annotations

import pytest


def torchvision():
    """The torchvision module (skips the test where torch or torchvision is missing)."""
    torch = pytest.importorskip("torch", reason="torch is the test reference: pip install -e '.[test]'")
    try:
        import torchvision as tv
        return tv
    except RuntimeError:
        pass
    except ImportError:
        pytest.skip("torchvision is the whole-network reference: pip install -e '.[test]'")
    lib = torch.library.Library("torchvision", "FRAGMENT")
    for op in ("nms", "qnms"):
        try:
            lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        except RuntimeError:   # defined already (a second call)
            pass
    _LIBS.append(lib)   # a Library's definitions live as long as the object
    import importlib
    import sys
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]   # the half-imported package of the first try
    return importlib.import_module("torchvision")


_LIBS: list = []
