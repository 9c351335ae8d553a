"""`nndc train --nproc N`: N processes under torch.distributed (gloo, on the
CPU), started with torch.multiprocessing; each builds the same module (same
seed), takes its share of every batch, and the gradients are summed
(train_loop.fit). Process 0's result comes back through a file."""

from __future__ import annotations

import os
import tempfile


def run_parallel(nproc: int, spec: dict, xs: dict, ys: dict, losses: dict, opts: dict):
    import torch
    import torch.multiprocessing as mp
    with tempfile.TemporaryDirectory(prefix="nnd-train-") as d:
        mp.spawn(_worker, args=(nproc, d, spec, xs, ys, losses, opts), nprocs=nproc, join=True)
        return torch.load(os.path.join(d, "result.pt"))


def _worker(rank: int, world: int, d: str, spec: dict, xs, ys, losses, opts) -> None:
    import torch
    import torch.distributed as dist
    from .torch_module import module
    from .train_loop import fit
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{os.path.join(d, 'store')}", rank=rank,
                            world_size=world)
    try:
        m = module(**spec)
        state, best = fit(m, xs, ys, losses, opts, rank=rank, world=world)
        if rank == 0:
            torch.save((state, best), os.path.join(d, "result.pt"))
    finally:
        dist.destroy_process_group()
