"""Deployment: `nndc compile --quantize/--precision` (the steps after the float
model is built) and `nndc export --triton REPO/` (a Triton Inference Server
model repository). Imported only by those commands.
"""

from __future__ import annotations

import os
import re
import sys

from .inputs import UsageError


def _err(msg: str) -> None:
    sys.stderr.write(f"nndc: error: {msg}\n")


# ------------------------------------------------------------------ compile --quantize / --precision

def check_options(args) -> str | None:
    """The usage error in compile's deployment options, before any work; else None."""
    if args.calibrate and not args.quantize:
        return "--calibrate needs --quantize int8"
    if args.calibration_method and not args.quantize:
        return "--calibration-method needs --quantize int8"
    if args.quantize and not args.calibrate:
        return ("--quantize int8 needs calibration data: --calibrate DATA.npz (one array per model input, "
                "named by it, samples along the first axis), or --calibrate random:N (accuracy then unknown)")
    if args.quantize and args.precision not in (None, "fp32"):
        return f"--quantize int8 and --precision {args.precision} do not combine; choose one"
    if args.io_half and args.precision in (None, "fp32"):
        return "--io-half needs --precision fp16 or bf16"
    if not args.optimize and args.quantize:
        return "--quantize needs the optimization passes (drop -O0): batch norms must be folded first"
    return None


def transform(args, model):
    """Apply --quantize or --precision to the float model (a ModelProto);
    returns (model, report lines) or raises UsageError / DeployError."""
    if args.quantize:
        from .quantize import calibration_data, quantize
        samples, how = calibration_data(args.calibrate, model, seed=args.seed)
        if args.calibrate.startswith("random:"):
            sys.stderr.write("nndc: warning: --calibrate random: calibrated and checked on random inputs; "
                             "the quantized model's accuracy on real data is unknown\n")
        try:
            q, rep = quantize(model, samples, args.calibration_method or "minmax", how)
        except UsageError:
            raise
        except Exception as e:   # noqa: BLE001 - onnxruntime's quantizer: one line, exit 1
            raise DeployError(f"quantization failed: {type(e).__name__}: {str(e).strip()[:300]}") from None
        q.metadata_props.add(key="nnd.quantization", value=f"int8 qdq per-channel {rep.method}")
        return q, rep.lines()
    from .precision import PrecisionError, check_kernels, convert
    try:
        h = convert(model, args.precision, io_half=args.io_half)
        from .session import cuda_unavailable
        device = "cuda" if cuda_unavailable() is None else "cpu"
        check_kernels(h, args.precision, device)
    except PrecisionError as e:
        raise DeployError(str(e)) from None
    return h, [f"precision   {args.precision} weights and compute"
               + ("" if args.io_half else "; inputs and outputs float32 (Cast at the boundaries)")
               + f"; onnxruntime has kernels for every node on {device}"]


class DeployError(Exception):
    """The model cannot be quantized or converted as asked (exit 1)."""


# ------------------------------------------------------------------ export --triton

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

_TRITON_TYPES = {
    "FLOAT": "TYPE_FP32", "FLOAT16": "TYPE_FP16", "BFLOAT16": "TYPE_BF16", "DOUBLE": "TYPE_FP64",
    "INT8": "TYPE_INT8", "INT16": "TYPE_INT16", "INT32": "TYPE_INT32", "INT64": "TYPE_INT64",
    "UINT8": "TYPE_UINT8", "UINT16": "TYPE_UINT16", "UINT32": "TYPE_UINT32", "UINT64": "TYPE_UINT64",
    "BOOL": "TYPE_BOOL", "STRING": "TYPE_STRING",
}


def _io(model) -> tuple[list, list]:
    """(name, Triton type, dims with -1 for symbolic ones, first dim's symbol or None) of inputs, outputs."""
    from onnx import TensorProto
    inits = {t.name for t in model.graph.initializer}

    def one(vi):
        tt = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim]
        sym = tt.shape.dim[0].dim_param if len(tt.shape.dim) and tt.shape.dim[0].HasField("dim_param") else None
        kind = _TRITON_TYPES.get(TensorProto.DataType.Name(tt.elem_type))
        if kind is None:
            raise UsageError(f"`{vi.name}` is {TensorProto.DataType.Name(tt.elem_type)}, "
                             "which Triton has no type for")
        return vi.name, kind, dims, sym
    return ([one(v) for v in model.graph.input if v.name not in inits], [one(v) for v in model.graph.output])


def triton_config(model, name: str, max_batch_size: int = 8, dynamic_batching: bool = True,
                  instances: int = 1, kind: str = "cpu", queue_delay_us: int = 100) -> str:
    """config.pbtxt for `model` (a ModelProto). max_batch_size > 0 needs every
    input and output to have a symbolic first dimension, the same one: that
    axis is then Triton's batch and left out of dims."""
    ins, outs = _io(model)
    syms = {s for _, _, _, s in ins + outs}
    batched = max_batch_size > 0
    if batched and (None in syms or len(syms) != 1):
        raise UsageError(f"--max-batch-size {max_batch_size}: every input and output must have the same "
                         "symbolic first dimension (the batch); use --max-batch-size 0 for this model")
    if dynamic_batching and not batched:
        dynamic_batching = False
    lines = [f'name: "{name}"', 'platform: "onnxruntime_onnx"', f"max_batch_size: {max_batch_size}"]
    for key, items in (("input", ins), ("output", outs)):
        lines.append(f"{key} [")
        for i, (n, t, dims, _) in enumerate(items):
            d = dims[1:] if batched else dims
            lines += ["  {", f'    name: "{n}"', f"    data_type: {t}",
                      f"    dims: [ {', '.join(str(x) for x in d)} ]", "  }" + ("," if i < len(items) - 1 else "")]
        lines.append("]")
    lines += ["instance_group [", "  {", f"    count: {instances}",
              f"    kind: {'KIND_GPU' if kind == 'gpu' else 'KIND_CPU'}", "  }", "]"]
    if dynamic_batching:
        lines += ["dynamic_batching {", f"  max_queue_delay_microseconds: {queue_delay_us}", "}"]
    return "\n".join(lines) + "\n"


def export(args) -> int:
    """`nndc export FILE --triton REPO/`."""
    try:
        return _export(args)
    except UsageError as e:
        _err(str(e))
        return 2


def _export(args) -> int:
    from .. import api
    from ..writer import same_file, write_atomic
    if not args.triton:
        raise UsageError("export needs a target: --triton REPO/")
    for opt, v, least in (("--instances", args.instances, 1), ("--max-batch-size", args.max_batch_size, 0)):
        if v < least:
            raise UsageError(f"{opt} must be at least {least}; got {v}")
    name = args.name or os.path.splitext(os.path.basename(args.file))[0]
    if not _NAME.match(name):
        raise UsageError(f"`{name}` is not a usable Triton model name (letters, digits, _ . -); give --name")
    if os.path.exists(args.triton) and not os.path.isdir(args.triton):
        raise UsageError(f"--triton {args.triton}: not a directory")
    if args.file.endswith(".nnd"):
        try:
            model = api.compile(args.file, model=args.model, params=dict(args.param), seed=args.seed,
                                weights=args.weights, allow_outside=args.allow_outside_imports)
        except api.CompileFailed as e:
            from ..emit import emit
            emit(e.result.diagnostics, e.result.sources, "text")
            return 1
        except api.WeightError as e:
            _err(str(e))
            return 1
    else:
        import onnx
        from .inputs import not_regular
        why = not_regular(args.file) if os.path.exists(args.file) else "no such file"
        if why:
            raise UsageError(f"cannot read {args.file}: {why}")
        try:
            model = onnx.load(args.file)
        except Exception as e:   # noqa: BLE001 - a file that is not ONNX
            raise UsageError(f"cannot read {args.file} as ONNX: {str(e).strip()[:200]}") from None
    cfg = triton_config(model, name, args.max_batch_size, not args.no_dynamic_batching, args.instances,
                        args.kind, args.max_queue_delay_us)
    d = os.path.join(args.triton, name, "1")
    out = os.path.join(d, "model.onnx")
    if same_file(out, args.file):
        raise UsageError(f"cannot write {out}: it is the model being exported; nndc never writes over its inputs")
    try:
        os.makedirs(d, exist_ok=True)
        api.save(model, out)
        write_atomic(os.path.join(args.triton, name, "config.pbtxt"), lambda f: f.write(cfg.encode()))
    except OSError as e:
        raise UsageError(f"cannot write to {args.triton}: {e.strerror or e}") from None
    print(f"wrote {out}")
    print(f"wrote {os.path.join(args.triton, name, 'config.pbtxt')}")
    return 0
