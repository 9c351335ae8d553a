"""Numerical equivalence with a torch.nn twin through weight binding.

`assert_matches_torch` gives a torch module random weights (BatchNorm's
affine parameters and running statistics re-randomized, so that BN is not the
identity), saves its `state_dict()` with safetensors, compiles the nnd model
with those weights (strict binding: every name must match), runs the ONNX
model on onnxruntime and compares each output, in declared order, with the
module's: max relative error <= `tol`.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from helpers import rel_err

TORCH_REASON = "torch is the test reference: pip install -e '.[test]'"


def std_path(name: str) -> str:
    """`std.resnet` -> the path of stdlib/resnet.nnd."""
    from importlib import resources
    parts = name.split(".")[1:]
    return str(resources.files("nnd.stdlib").joinpath(*parts[:-1], parts[-1] + ".nnd"))


def randomize(module, seed: int = 0, reset: bool = False) -> None:
    """Make BatchNorm layers not the identity: random affine parameters and
    running statistics. The other weights are torch's own random
    initialization, made at construction (seed torch before constructing for
    repeatable weights), or made again here, seeded, with `reset`."""
    import torch
    bn = torch.nn.modules.batchnorm._BatchNorm
    if reset:
        torch.manual_seed(seed)
        for m in module.modules():
            if hasattr(m, "reset_parameters") and not isinstance(m, bn):
                m.reset_parameters()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, bn):
                c = m.num_features
                if m.affine:
                    m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(c, generator=g) * 0.2)
                if m.track_running_stats:
                    m.running_mean.copy_(torch.randn(c, generator=g) * 0.2)
                    m.running_var.copy_(torch.rand(c, generator=g) + 0.5)


def compile_with_torch_weights(source: str, model_name: str | None, torch_module, tmp_path,
                               params: dict | None = None, seed: int = 0, fmt: str = "safetensors"):
    """Randomize `torch_module`, save its state_dict as `fmt`, compile `source`
    (a .nnd path, or `std.NAME`: `model_name` from that standard-library
    module) with it; returns the ONNX model."""
    pytest.importorskip("torch", reason=TORCH_REASON)
    import nnd
    randomize(torch_module, seed)
    torch_module.eval()
    state = {k: v.detach().contiguous() for k, v in torch_module.state_dict().items()}
    path = os.path.join(str(tmp_path), f"weights.{fmt}")
    if fmt == "safetensors":
        pytest.importorskip("safetensors", reason="safetensors is a test extra: pip install -e '.[test]'")
        from safetensors.torch import save_file
        save_file(state, path)
    else:
        np.savez(path, **{k: v.numpy() for k, v in state.items()})
    if source.startswith("std."):   # a standard-library model, as a user imports it
        text = f"import {source}\nmodel Chosen = {model_name}\n"
        return nnd.compile(text=text, model="Chosen", params=params, weights=path)
    return nnd.compile(source, model=model_name, params=params, weights=path)


def assert_matches_torch(source: str, model_name: str | None, torch_module, input_shapes: list,
                         tmp_path, params: dict | None = None, tol: float = 1e-4, seed: int = 0,
                         input_dtypes: list | None = None, high: int = 2) -> list[float]:
    """Compile `source`'s model with `torch_module`'s random weights and check
    every output against torch on random inputs of `input_shapes` (declared
    order; `input_dtypes` for integer inputs, drawn in [0, high), and bool
    ones). Returns the max relative error of each output."""
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    from helpers import random_inputs, run_onnx
    model = compile_with_torch_weights(source, model_name, torch_module, tmp_path, params=params, seed=seed)
    names = [i.name for i in model.graph.input]
    assert len(names) == len(input_shapes), f"model inputs {names}, given {len(input_shapes)} shapes"
    rng = np.random.default_rng(seed)
    xs = random_inputs(input_shapes, rng, input_dtypes, high)
    got = run_onnx(model, dict(zip(names, xs)))
    with torch.no_grad():
        want = torch_module(*[torch.from_numpy(x) for x in xs])
    if isinstance(want, dict):
        want = list(want.values())
    elif not isinstance(want, (list, tuple)):
        want = [want]
    assert len(got) == len(want), f"{len(got)} ONNX outputs, {len(want)} torch outputs"
    errs = []
    for o, g, w in zip(model.graph.output, got, want):
        err = rel_err(g, w.numpy())
        assert err <= tol, f"output `{o.name}`: max relative error {err:.3g} > {tol}"
        errs.append(err)
    return errs
