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


def eval_outputs(net, *xs) -> list:
    """`net`'s inference outputs on `xs` as a list, auxiliary heads included:
    torchvision runs GoogLeNet's `aux1`/`aux2` only in training mode, so here
    the top module alone says it is training (every layer inside keeps its
    eval behaviour: running statistics, no dropout). Order as the stdlib's
    outputs: logits, then the auxiliary heads from the shallowest."""
    import torch
    net.eval()
    net.training = bool(getattr(net, "aux_logits", False))
    try:
        with torch.no_grad():
            out = net(*xs)
    finally:
        net.training = False
    if hasattr(out, "_fields"):   # GoogLeNetOutputs(logits, aux_logits2, aux_logits1), InceptionOutputs
        return [getattr(out, f) for f in ("logits", "aux_logits1", "aux_logits2", "aux_logits") if f in out._fields]
    return list(out) if isinstance(out, tuple) else [out]
