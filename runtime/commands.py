"""`nndc run` and `nndc bench`: what they do, behind compiler/cli.py's shells.

Exit codes as for the rest of nndc: 0 success, 1 the model failed (compile
diagnostics, or onnxruntime refused to run it), 2 usage and I/O errors
(unreadable inputs, inputs of the wrong shape, an unavailable device).
"""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import time

import numpy as np

from .inputs import UsageError, not_regular, parse_inputs


def _err(msg: str) -> None:
    sys.stderr.write(f"nndc: error: {msg}\n")


def _resolve_names(model, given: dict) -> dict:
    if "" in given:
        if len(model.inputs) != 1:
            raise UsageError("the model has several inputs; name each: --input NAME=FILE.npy")
        if model.inputs[0].name in given:
            raise UsageError(f"input `{model.inputs[0].name}` is given twice (once without NAME=)")
        given = dict(given)
        given[model.inputs[0].name] = given.pop("")
    return given


def load_model(args, verbose: int, path: str | None = None):
    """The `Model` for `path` (default `args.file`; .nnd or .onnx); raises what the CLI maps to exit codes."""
    from .model import load
    path = path or args.file
    why = not_regular(path)   # before anything opens it: a named pipe would block
    if why:
        raise UsageError(f"cannot read {path}: {why}")
    return load(path, device=args.device, threads=args.threads, cache=not args.no_cache, verbose=verbose,
                model=args.model, params=dict(args.param), seed=args.seed,
                allow_outside=args.allow_outside_imports)


def _feeds(model, args) -> tuple[dict, str]:
    given = _resolve_names(model, parse_inputs(args.input))
    if given:
        names = [i.name for i in model.inputs]
        unknown = [k for k in given if k not in names]
        if unknown:
            raise UsageError(f"the model has no input `{unknown[0]}`; its inputs: {', '.join(names)}")
        missing = [i.name for i in model.inputs if i.name not in given]
        if missing:
            raise UsageError(f"input `{missing[0]}` is missing: give it with --input {missing[0]}=FILE.npy")
        how = "from files"
    else:
        from .model import TooLarge
        batch = args.batch or 1
        try:
            given = model.random_inputs(batch, args.data_seed)
        except TooLarge as e:
            raise UsageError(f"--batch {batch}: {e}") from None
        except ValueError as e:
            raise UsageError(str(e)) from None
        how = f"random (seed {args.data_seed})"
    try:
        return model.feeds(given), how
    except ValueError as e:
        raise UsageError(str(e)) from None


def _shape(a) -> str:
    return "[" + ", ".join(str(d) for d in a.shape) + "]"


def summarize(a: np.ndarray, k: int = 6) -> str:
    if a.size == 0:
        return "(empty)"
    flat = a.reshape(-1)
    head = ", ".join(_num(x) for x in flat[:k]) + (", ..." if flat.size > k else "")
    if np.issubdtype(a.dtype, np.number) and not np.issubdtype(a.dtype, np.bool_):
        f = flat.astype(np.float64)
        finite = np.isfinite(f)
        note = "" if finite.all() else f"  ({int((~finite).sum())} not finite)"
        f = f[finite] if not finite.all() else f
        if f.size:
            return (f"min {_num(f.min())}  max {_num(f.max())}  mean {_num(f.mean())}  std {_num(f.std())}"
                    f"{note}  [{head}]")
    return f"[{head}]"


def _num(x) -> str:
    x = float(x)
    return f"{x:.4g}"


def _check_numbers(args) -> None:
    """The numeric options, before any work: each wrong one is a usage error."""
    for opt, least in (("batch", 1), ("threads", 1), ("runs", 1), ("warmup", 0)):
        v = getattr(args, opt, None)
        if v is not None and v < least:
            more = " (leave it out for onnxruntime's default)" if opt == "threads" else ""
            raise UsageError(f"--{opt} must be {'at least 1' if least else '0 or more'}; got {v}{more}")


def _with_model(args, fn) -> int:
    from .session import DeviceError
    from .. import api
    verbose = getattr(args, "verbose", 0)
    try:
        _check_numbers(args)
        model = load_model(args, verbose) if args.file else None   # bench --compare loads its own
        return fn(model)
    except UsageError as e:
        _err(str(e))
        return 2
    except DeviceError as e:
        _err(f"--device {args.device}: {e}")
        return 2
    except api.CompileFailed as e:
        from ..emit import emit
        emit(e.result.diagnostics, e.result.sources, "text", colour=getattr(args, "color", "auto"))
        return 1
    except api.WeightError as e:
        _err(str(e))
        return 1
    except BrokenPipeError:   # the reader of stdout went away (`| head`): nndc's main ends quietly
        raise
    except OSError as e:
        _err(f"{getattr(e, 'filename', None) or args.file}: {e.strerror or e}")
        return 2
    except Exception as e:   # noqa: BLE001 - onnxruntime's own errors: say it in one line
        if type(e).__module__.startswith("onnxruntime") or "onnxruntime" in type(e).__module__:
            _err(f"onnxruntime: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}")
            return 1
        raise


def run(args) -> int:
    if args.save:
        from ..writer import same_file
        ins = [args.file] + [spec.partition("=")[2] if "=" in spec else spec for spec in args.input]
        clash = next((p for p in ins if same_file(args.save, p)), None)
        if clash is not None:
            _err(f"cannot write {args.save}: it is the {'model' if clash == args.file else 'input file'} "
                 f"{clash}; nndc never writes over its inputs (choose another --save)")
            return 2

    def go(model) -> int:
        feeds, how = _feeds(model, args)
        t = time.perf_counter()
        outs = model.run(feeds)
        dt = time.perf_counter() - t
        info = model.info
        print(f"model   {args.file}  on {info.device} ({info.provider}), session {info.seconds:.2f} s"
              f"{' (cached)' if info.cached else ''}, run {dt * 1000:.1f} ms")
        if args.verbose:
            from ..cli_info import onnxruntime_build
            print(f"runtime {onnxruntime_build()}")
        w = max(len(n) for n in list(feeds) + list(outs))
        for name, a in feeds.items():
            print(f"input   {name:{w}}  {a.dtype} {_shape(a)}  {how}")
        for name, a in outs.items():
            print(f"output  {name:{w}}  {a.dtype} {_shape(a)}  {summarize(a)}")
        if args.save:
            try:
                _save_npz(args.save, outs)
            except OSError as e:
                raise UsageError(f"cannot write {args.save}: {e.strerror or e}") from None
            print(f"saved   {', '.join(outs)} to {args.save}")
        return 0
    return _with_model(args, go)


def _save_npz(path: str, arrays: dict) -> None:
    from ..writer import write_atomic   # atomic, and /dev/null written through

    def write(f):
        if stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            np.savez(f, **arrays)
        else:   # zipfile's offsets come from tell(), which a device (/dev/null) does not keep
            buf = io.BytesIO()
            np.savez(buf, **arrays)
            f.write(buf.getbuffer())
    write_atomic(path, write)


def bench(args) -> int:
    from .bench import bench as timeit
    if args.compare:
        if args.file:
            _err(f"give either FILE or --compare A B, not both (got {args.file} too)")
            return 2
        from .compare import compare
        return _with_model(args, lambda _: compare(args, lambda p: load_model(args, args.verbose, p),
                                                   lambda m: _feeds(m, args)))
    if not args.file:
        _err("bench needs a FILE (or --compare A B)")
        return 2

    def go(model) -> int:
        feeds, how = _feeds(model, args)
        batch = next(iter(feeds.values())).shape[0] if feeds and next(iter(feeds.values())).ndim else 1
        sess = model.session
        run_once = lambda: sess.run(None, feeds)   # noqa: E731
        res = timeit(run_once, batch=batch, runs=args.runs, warmup=args.warmup)
        info = model.info
        if args.format == "json":
            out = {"model": args.file, "device": info.device, "provider": info.provider,
                   "threads": args.threads, "batch": batch,
                   "inputs": {k: list(v.shape) for k, v in feeds.items()},
                   "session_s": info.seconds, "session_cached": info.cached, **res.to_dict()}
            print(json.dumps(out, indent=2))
            return 0
        print(f"model       {args.file}  on {info.device} ({info.provider})"
              f"{f', {args.threads} threads' if args.threads else ''}")
        print(f"session     {info.seconds:.2f} s{' (cached optimized model)' if info.cached else ''}")
        print(f"inputs      " + ", ".join(f"{k} {_shape(v)}" for k, v in feeds.items()) + f"  {how}")
        print(f"runs        {res.runs} after {res.warmup} warm-up")
        print(f"latency     median {res.median_ms:.3f} ms   p10 {res.p10_ms:.3f} ms   p90 {res.p90_ms:.3f} ms")
        print(f"throughput  {res.throughput:.1f} samples/s (batch {batch})")
        return 0
    return _with_model(args, go)
