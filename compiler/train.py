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
        emit(res.diagnostics, res.sources, "text")
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
        emit(e.result.diagnostics, e.result.sources, "text")
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


# ------------------------------------------------------------------ the loop

def sample_losses(kind: str, y, t, made_by: str):
    """Each sample's loss (a tensor [N]): the mean over the rest. bce and ce
    read an output made by Sigmoid / Softmax / LogSoftmax as (log-)
    probabilities, any other as logits."""
    import torch
    import torch.nn.functional as F
    if kind in ("mse", "mae"):
        d = y - t
        e = d * d if kind == "mse" else d.abs()
    elif kind == "bce":
        if made_by == "Sigmoid":
            e = F.binary_cross_entropy(y.clamp(1e-7, 1 - 1e-7), t, reduction="none")
        else:
            e = F.binary_cross_entropy_with_logits(y, t, reduction="none")
    else:
        logp = {"Softmax": lambda: torch.log(y.clamp_min(1e-12)), "LogSoftmax": lambda: y}.get(
            made_by, lambda: F.log_softmax(y, dim=1))()
        e = F.nll_loss(logp, t, reduction="none") if t.dtype == torch.int64 else -(t * logp).sum(1)
    return e.reshape(len(e), -1).mean(1)


def make_optimizer(m, opts):
    import torch
    ps = [p for p in m.parameters() if p.requires_grad]
    wd = opts["weight_decay"]
    return {"sgd": lambda: torch.optim.SGD(ps, lr=opts["lr"], momentum=opts["momentum"], weight_decay=wd),
            "adam": lambda: torch.optim.Adam(ps, lr=opts["lr"], weight_decay=wd),
            "adamw": lambda: torch.optim.AdamW(ps, lr=opts["lr"], weight_decay=wd),
            "nadam": lambda: torch.optim.NAdam(ps, lr=opts["lr"], weight_decay=wd)}[opts["optimizer"]]()


def make_schedule(opt, opts, steps: int):
    import torch
    if opts["schedule"] == "1cycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=opts["lr"], total_steps=steps)
    if opts["schedule"] == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    return None


def split(n: int, opts) -> tuple:
    import numpy as np
    perm = np.random.default_rng(opts["seed"]).permutation(n)
    n_val = int(round(n * opts["val_split"]))
    return perm[n_val:], perm[:n_val]


def fit(m, xs: dict, ys: dict, losses: dict, opts: dict, rank: int = 0, world: int = 1, log=None):
    """Train `m` in place; returns (the best epoch's state_dict, copied;
    {epoch, val}). With world > 1, this process takes its share of each
    batch and the gradients are summed over the processes."""
    import numpy as np
    import torch
    log = log if log is not None else (None if opts["quiet"] or rank else sys.stderr)
    torch.manual_seed(opts["seed"] + rank)
    X = {k: torch.from_numpy(v) for k, v in xs.items()}
    Y = {k: torch.from_numpy(v) for k, v in ys.items()}
    train_idx, val_idx = split(len(next(iter(xs.values()))), opts)
    B = opts["batch"]
    steps = math.ceil(len(train_idx) / B)
    opt = make_optimizer(m, opts)
    sched = make_schedule(opt, opts, steps * opts["epochs"])
    kinds = dict(zip(m.output_names, m.output_kinds))
    order = np.random.default_rng(opts["seed"] + 1)
    best = {"epoch": 0, "val": None}
    best_state = None
    stale = 0
    for epoch in range(1, opts["epochs"] + 1):
        m.train()
        idx = order.permutation(train_idx)
        run = {o: 0.0 for o in losses}
        seen = 0
        for s in range(steps):
            batch = idx[s * B:(s + 1) * B]
            lo, hi = len(batch) * rank // world, len(batch) * (rank + 1) // world
            mine = torch.from_numpy(batch[lo:hi])
            opt.zero_grad(set_to_none=False)
            if len(mine):
                per = _losses(m, X, Y, mine, losses, kinds)
                # Each share's sum over the whole batch's size: the processes' sum is the batch mean.
                total = sum(w * per[o].sum() for o, (_, w) in losses.items()) / len(batch)
                total = total + m.regularization_loss() / world
                total.backward()
                for o in losses:
                    run[o] += float(per[o].detach().sum())
            if world > 1:
                _all_reduce_grads(m)
            if opts["clip_grad"]:
                torch.nn.utils.clip_grad_norm_([p for p in m.parameters() if p.requires_grad], opts["clip_grad"])
            opt.step()
            m.apply_constraints()
            if sched is not None:
                sched.step()
            seen += len(mine)
        val = _evaluate(m, X, Y, val_idx, losses, kinds, B) if len(val_idx) else None
        if log is not None:
            log.write(f"epoch {epoch}/{opts['epochs']}  loss " + " ".join(
                f"{o} {run[o] / max(seen, 1):.5g}" for o in losses)
                + ("" if val is None else "  val " + " ".join(f"{o} {v:.5g}" for o, v in val[1].items())
                   + f"  val_loss {val[0]:.5g}") + "\n")
            log.flush()
        if val is None or best["val"] is None or val[0] < best["val"]:
            best = {"epoch": epoch, "val": None if val is None else val[0]}
            best_state = {k: v.detach().clone() for k, v in m.state_dict().items()}
            stale = 0
        else:
            stale += 1
            if opts["early_stopping"] and stale >= opts["early_stopping"] and epoch < opts["epochs"]:
                if log is not None:
                    log.write(f"stopped early: no better validation loss in {stale} epochs\n")
                break
    return best_state, best


def _losses(m, X, Y, idx, losses, kinds) -> dict:
    outs = m(*[X[k][idx] for k in m.input_names])
    outs = outs if isinstance(outs, tuple) else (outs,)
    by = dict(zip(m.output_names, outs))
    return {o: sample_losses(kind, by[o], Y[o][idx], kinds[o]) for o, (kind, _) in losses.items()}


def _evaluate(m, X, Y, idx, losses, kinds, B) -> tuple:
    """(the weighted validation loss, per output), in eval() mode."""
    import torch
    m.eval()
    sums = {o: 0.0 for o in losses}
    with torch.no_grad():
        for s in range(0, len(idx), B):
            per = _losses(m, X, Y, torch.from_numpy(idx[s:s + B]), losses, kinds)
            for o in losses:
                sums[o] += float(per[o].sum())
    per = {o: v / len(idx) for o, v in sums.items()}
    return sum(w * per[o] for o, (_, w) in losses.items()), per


def _all_reduce_grads(m) -> None:
    import torch.distributed as dist
    for p in m.parameters():
        if p.requires_grad:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
