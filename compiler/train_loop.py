"""The training loop of `nndc train` (train.py): losses per output, the
optimizer and schedule, the split, and `fit`, which train_dist.py runs in
each of N processes."""

from __future__ import annotations

import math
import sys

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
