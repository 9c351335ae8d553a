"""`nndc train FILE --data D.npz -o W.safetensors`: trains the model that
FILE declares with PyTorch (nnd.torch builds the module) and writes its
weights, which `nndc compile FILE --weights W.safetensors` binds.

Losses are per output (`--loss main=mse:0.9`); their weighted sum plus the
program's regularization terms is minimized; max-norm constraints apply
after every step; the weights written are those of the epoch with the best
validation loss (the last epoch without a validation split). With
`--nproc N`, N processes each take a contiguous share of every batch
(torch.distributed, gloo) and sum their gradients: the same steps as one
process, up to the order of the additions (BatchNorm statistics, though,
are each process's own, and dropout draws differ).
"""

from __future__ import annotations

import math
import os
import sys

INSTALL = "nndc train needs PyTorch: pip install 'nnd[train]' (torch and safetensors)"
OPTIMIZERS = ("sgd", "adam", "adamw", "nadam")
SCHEDULES = ("constant", "1cycle", "cosine")


def add_parser(sub, common, path_type) -> None:
    t = sub.add_parser("train", help="train a model on .npz data with PyTorch; write its weights")
    t.add_argument("file")
    t.add_argument("--data", "-d", required=True, type=path_type, metavar="DATA.npz",
                   help="arrays named by the model's inputs, and by its outputs for their targets")
    t.add_argument("-o", "--output", type=path_type, help="weights to write (.safetensors or .npz; "
                   "default FILE.safetensors, or .npz without safetensors)")
    t.add_argument("--loss", action="append", default=[], metavar="OUTPUT=mse|mae|bce|ce[:WEIGHT]",
                   help="the loss of an output and its weight (repeatable; default mse on every output)")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    t.add_argument("--lr", type=float, default=1e-3, help="learning rate (the peak for 1cycle)")
    t.add_argument("--momentum", type=float, default=0.0, help="sgd's momentum")
    t.add_argument("--weight-decay", type=float, default=0.0, help="the optimizer's weight decay")
    t.add_argument("--schedule", choices=SCHEDULES, default="constant")
    t.add_argument("--clip-grad", type=float, default=None, metavar="NORM", help="clip the gradient's norm")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--val-split", type=float, default=0.2, help="the fraction held out for validation")
    t.add_argument("--early-stopping", type=int, default=None, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without a better validation loss")
    t.add_argument("--seed", type=int, default=0, help="seed of the initial weights, the split and the order")
    t.add_argument("--weights", type=path_type, metavar="FILE", help="start from these weights (fine-tuning)")
    t.add_argument("--partial", action="store_true", help="with --weights: initialize what they lack")
    t.add_argument("--freeze", action="append", default=[], metavar="PATTERN",
                   help="keep the parameters of matching layers fixed (glob over layer names; repeatable)")
    t.add_argument("--nproc", type=int, default=1, help="data-parallel processes (torch.distributed, gloo)")
    t.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    common(t)


def _usage(msg: str) -> int:
    sys.stderr.write(f"nndc: error: {msg}\n")
    return 2


def cmd_train(args) -> int:
    try:
        import torch  # noqa: F401
    except ImportError:
        return _usage(INSTALL)
    for flag, v, ok in (("--epochs", args.epochs, args.epochs >= 1), ("--batch", args.batch, args.batch >= 1),
                        ("--lr", args.lr, args.lr > 0 and math.isfinite(args.lr)),
                        ("--val-split", args.val_split, 0 <= args.val_split < 1),
                        ("--nproc", args.nproc, args.nproc >= 1),
                        ("--clip-grad", args.clip_grad, args.clip_grad is None or args.clip_grad > 0),
                        ("--early-stopping", args.early_stopping,
                         args.early_stopping is None or args.early_stopping >= 1)):
        if not ok:
            return _usage(f"{flag} {v} is out of range")
    if args.partial and not args.weights:
        return _usage("--partial needs --weights FILE")
    from . import api
    from .emit import emit
    res = api.check(args.file, model=args.model, params=dict(args.param), allow_outside=args.allow_outside_imports)
    if not res.ok:
        emit(res.diagnostics, res.sources, "text", colour=getattr(args, "color", "auto"))
        return 2 if any(d.code == "E0004" and d.span is None for d in res.diagnostics) else 1
    out = args.output or os.path.splitext(args.file)[0] + (".safetensors" if _has_safetensors() else ".npz")
    if not out.endswith((".safetensors", ".npz")):
        return _usage(f"-o {out}: the weights are written as .safetensors or .npz")
    if out.endswith(".safetensors") and not _has_safetensors():
        return _usage("writing .safetensors needs safetensors: pip install safetensors (or use -o W.npz)")
    from .train_data import DataError, load, parse_losses
    from .torch_module import module
    spec = dict(path=args.file, model=args.model, params=dict(args.param), seed=args.seed, weights=args.weights,
                partial=args.partial, freeze=tuple(args.freeze), allow_outside=args.allow_outside_imports)
    try:
        m = module(**spec)
    except api.CompileFailed as e:
        emit(e.result.diagnostics, e.result.sources, "text", colour=getattr(args, "color", "auto"))
        return 1
    except api.WeightError as e:
        sys.stderr.write(f"nndc: error: {e}\n")
        return 1
    try:
        losses = parse_losses(args.loss, m.output_names)
        xs, ys = load(args.data, dict(zip(m.input_names, m.input_shapes)),
                      dict(zip(m.output_names, m.output_shapes)), losses)
    except DataError as e:
        return _usage(str(e))
    n = len(next(iter(xs.values())))
    if n - round(n * args.val_split) < 1:
        return _usage(f"--val-split {args.val_split} leaves no training samples of {n}")
    opts = {k: getattr(args, k) for k in ("optimizer", "lr", "momentum", "weight_decay", "schedule", "clip_grad",
                                          "epochs", "batch", "val_split", "early_stopping", "seed", "quiet")}
    if args.nproc == 1:
        from .train_loop import fit
        state, best = fit(m, xs, ys, losses, opts)
    else:
        from .train_dist import run_parallel
        state, best = run_parallel(args.nproc, spec, xs, ys, losses, opts)
    try:
        save_weights(state, out)
    except OSError as e:
        return _usage(f"cannot write {out}: {e.strerror or e}")
    print(f"wrote {out}" + (f" (epoch {best['epoch']}, validation loss {best['val']:.6g})"
                            if best.get("val") is not None else ""))
    return 0


def _has_safetensors() -> bool:
    try:
        import safetensors  # noqa: F401
        return True
    except ImportError:
        return False


def save_weights(state: dict, out: str) -> None:
    """name -> array, written atomically (writer.write_atomic)."""
    import numpy as np
    from .writer import write_atomic
    arrays = {k: np.ascontiguousarray(v.detach().cpu().numpy()) for k, v in state.items()}
    if out.endswith(".safetensors"):
        from safetensors.numpy import save
        data = save(arrays)
        write_atomic(out, lambda f: f.write(data))
    else:
        write_atomic(out, lambda f: np.savez(f, **arrays))
