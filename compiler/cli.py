"""nndc: the command line, a thin shell over nnd.api.

Exit codes: 0 success, 1 diagnostics (errors, or warnings with
--deny-warnings), 2 usage or I/O errors, 3 an internal error (a bug).
"""

from __future__ import annotations

import argparse
import os
import sys

from . import api
from .emit import emit


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 2, as documented
        self.print_usage(sys.stderr)
        sys.stderr.write(f"nndc: error: {message}\n")
        raise SystemExit(2)


def _param(text: str):
    """`--param classes=10`: the value is read as an nnd literal."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    import ast as pyast
    lowered = {"true": "True", "false": "False"}.get(v.strip(), v)
    try:
        val = pyast.literal_eval(lowered)
    except (ValueError, SyntaxError):
        val = v
    return k.strip(), val


def _size(text: str) -> int:
    """`--max-weights-size 100GB`: bytes."""
    from .weights import parse_size
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _path(text: str) -> str:
    """A file argument: an empty one is a usage error, never "use the default"."""
    if not text:
        raise argparse.ArgumentTypeError("expected a file name, got an empty string")
    return text


def _common(p):
    p.add_argument("--model", "-m", help="the model to use when the file defines several")
    p.add_argument("--param", "-p", action="append", type=_param, default=[], metavar="NAME=VALUE",
                   help="override a model parameter, e.g. -p classes=10")
    p.add_argument("--allow-outside-imports", action="store_true",
                   help="let `import \"...\"` read files outside the root file's directory")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="nndc", description="Compile .nnd neural network descriptions to ONNX.")
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    c = sub.add_parser("compile", help="compile a .nnd file to ONNX")
    c.add_argument("file")
    c.add_argument("-o", "--output", type=_path, help="output path (default: FILE with .onnx)")
    c.add_argument("--seed", type=int, default=0, help="seed of the random initial weights")
    c.add_argument("--weights", metavar="FILE", type=_path,
                   help="bind weights from .npz, .safetensors or .onnx (by parameter name; strict)")
    c.add_argument("--partial", action="store_true",
                   help="with --weights: bind what matches, initialize the rest, print what was bound")
    c.add_argument("--freeze", action="append", default=[], metavar="PATTERN",
                   help="mark the parameters of matching layers frozen (glob over layer names, e.g. "
                        "'layer1.*'; repeatable); recorded in the ONNX metadata as nnd.frozen")
    c.add_argument("--allow-nonfinite", action="store_true",
                   help="with --weights: bind tensors holding NaN, infinities or values too large for float32")
    c.add_argument("--max-weights-size", type=_size, default=api.MAX_WEIGHTS_SIZE, metavar="SIZE",
                   help="refuse a model whose weights would take more than SIZE (default 16GiB; e.g. 100GB)")
    c.add_argument("-O0", dest="optimize", action="store_false", help="disable the optimization passes")
    c.add_argument("--report", action="store_true", help="print what each pass changed")
    c.add_argument("--keep-training-outputs", action="store_true",
                   help="keep outputs marked training-only (auxiliary heads), which -O1 drops")
    c.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    _common(c)

    k = sub.add_parser("check", help="parse and shape-check; report every error")
    k.add_argument("files", nargs="+")
    k.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                   help="text (for people, on stderr), json (one object per line) or sarif (SARIF 2.1.0), "
                        "both on stdout")
    k.add_argument("--deny-warnings", action="store_true", help="exit 1 on warnings too")
    k.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour the text output (auto: on a terminal, unless NO_COLOR is set)")
    _common(k)

    s = sub.add_parser("summary", help="per-layer table: name, kind, output shape, parameters")
    s.add_argument("file")
    s.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    _common(s)
    _runtime_commands(sub)
    from .train import add_parser
    add_parser(sub, _common, _path)
    return ap


def _runtime_commands(sub) -> None:
    """`run` and `bench`: the work is in nnd.runtime (imported only when they run)."""
    for name, text in (("run", "run a model (.nnd or .onnx) once on onnxruntime and show its outputs"),
                       ("bench", "time a model on onnxruntime: median, p10, p90 latency and throughput")):
        r = sub.add_parser(name, help=text)
        r.add_argument("file", help="a .nnd file (compiled in memory) or an .onnx file")
        r.add_argument("--input", "-i", action="append", default=[], metavar="NAME=FILE.npy",
                       help="input data (repeatable; FILE.npz feeds its arrays by name); default: random")
        r.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                       help="auto: CUDA when it really works, else the CPU")
        r.add_argument("--batch", type=int, default=None, help="the batch size of random inputs (default 1)")
        r.add_argument("--threads", type=int, default=None, help="onnxruntime's intra-op threads")
        r.add_argument("--seed", type=int, default=0, help="seed of a .nnd model's random weights")
        r.add_argument("--data-seed", type=int, default=0, help="seed of the random inputs")
        r.add_argument("--no-cache", action="store_true", help="do not use or fill the optimized-model cache")
        r.add_argument("-v", "--verbose", action="count", default=0, help="show onnxruntime's log (-vv: all)")
        if name == "run":
            r.add_argument("--save", metavar="OUT.npz", type=_path,
                           help="save the outputs, by name, to an .npz file")
        else:
            r.add_argument("--runs", type=int, default=None, help="timed runs (default: 10 or more, ~3 s)")
            r.add_argument("--warmup", type=int, default=None, help="warm-up runs (default: 2 or more, ~0.5 s)")
            r.add_argument("--json", action="store_true", help="print the results as JSON")
        _common(r)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if argv is None:
        _clean_up_on_termination()
    try:
        rc = {"compile": cmd_compile, "check": cmd_check, "summary": cmd_summary,
              "run": cmd_run, "bench": cmd_bench, "train": cmd_train}[args.cmd](args)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug in nndc, never the input's fault: no traceback unless asked
        if os.environ.get("NND_BACKTRACE"):
            raise
        message = f"internal compiler error: {type(e).__name__}: {e}"
        fmt = getattr(args, "format", "text")
        if fmt != "text":
            _internal_error_document(message, fmt, sys.stdout if args.cmd == "check" else sys.stderr)
        if fmt == "text" or args.cmd == "check":
            sys.stderr.write(f"nndc: {message}\n"
                             "this is a bug in nndc; please report it with the input that caused it "
                             "(NND_BACKTRACE=1 shows where it happened)\n")
        return 3
    if argv is None and args.cmd == "compile":
        _exit_now(rc)
    return rc


def _clean_up_on_termination() -> None:
    """On SIGTERM or SIGHUP, remove the temporary files being written and
    exit 128 + the signal's number (143 for SIGTERM), as a killed process
    would. Only when nndc runs as a command: a caller's handlers are its own."""
    import signal

    def handler(signum, frame):
        writer = sys.modules.get(__package__ + ".writer")   # not loaded: nothing being written
        if writer is not None:
            writer.remove_pending()
        os._exit(128 + signum)
    try:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, handler)
    except (ValueError, AttributeError):   # not the main thread; no SIGHUP (Windows)
        pass


def _internal_error_document(message: str, fmt: str, stream) -> None:
    """Under --format json or sarif, a crash still writes a valid document
    where the diagnostics would have gone, so that a CI step reading it sees
    the failure: a JSON object with `code` "internal-error", or a SARIF log
    whose invocation failed."""
    import json
    if fmt == "sarif":
        from .sarif import internal_error
        stream.write(json.dumps(internal_error(message), indent=2) + "\n")
    else:
        stream.write(json.dumps({"code": "internal-error", "severity": "error", "message": message,
                                 "file": None, "line": None, "column": None, "end_line": None,
                                 "end_column": None, "help": "this is a bug in nndc; please report it",
                                 "labels": [], "notes": []}) + "\n")


def _exit_now(rc: int) -> None:
    """End the nndc process without tearing down the interpreter: freeing a
    large model's syntax tree and IR object by object takes a tenth of its
    compile time, and the output is already written and closed. Only when
    nndc runs as a command (main() read sys.argv), never under a caller."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(rc)


def _check(args, path):
    return api.check(path, model=args.model, params=dict(args.param),
                     allow_outside=args.allow_outside_imports)


def _io_error(res) -> bool:
    return any(d.code == "E0004" and d.span is None for d in res.diagnostics)


def cmd_check(args) -> int:
    worst = 0
    all_diags, files = [], []
    for path in args.files:
        res = _check(args, path)
        all_diags.extend(res.diagnostics)
        files += [path] * len(res.diagnostics)
        if args.format == "text":
            emit(res.diagnostics, res.sources, "text", colour=args.color)
        if _io_error(res):
            worst = max(worst, 2)
        elif res.errors or (args.deny_warnings and res.diagnostics):
            worst = max(worst, 1)
    if args.format != "text":
        emit(all_diags, None, args.format, sys.stdout, files=files)
    return worst


def cmd_compile(args) -> int:
    res = _check(args, args.file)
    if not res.ok:
        emit(res.diagnostics, res.sources, args.format, files=[args.file] * len(res.diagnostics))
        return 2 if _io_error(res) else 1
    if res.diagnostics and args.format == "text":
        emit(res.diagnostics, res.sources, "text")
    out = args.output or os.path.splitext(args.file)[0] + ".onnx"
    inputs = [("the source file", args.file)] + [("the imported file", os.path.relpath(f)) for f in res.files[1:]]
    if args.weights:
        inputs.append(("the weights file", args.weights))
    clash = _input_at(out, inputs)
    if clash:
        sys.stderr.write(f"nndc: error: cannot write {out}: it is {clash}; "
                         "nndc never writes over its inputs (choose another -o)\n")
        return 2
    if args.partial and not args.weights:
        sys.stderr.write("nndc: error: --partial needs --weights FILE\n")
        return 2
    if args.weights and (why := _weights_unreadable(args.weights)):
        sys.stderr.write(f"nndc: error: cannot read weights `{args.weights}`: {why}\n")
        return 2
    report: list = []
    bound: list = []
    try:
        model = api.compile(args.file, model=args.model, params=dict(args.param), seed=args.seed,
                            weights=args.weights, optimize=args.optimize,
                            allow_outside=args.allow_outside_imports, report=report,
                            keep_training_outputs=args.keep_training_outputs,
                            partial=args.partial, freeze=args.freeze, weight_report=bound,
                            lazy=True, checked=res, allow_nonfinite=args.allow_nonfinite,
                            max_weights_size=args.max_weights_size)
    except api.CompileFailed as e:
        emit(e.result.diagnostics, e.result.sources, args.format)
        return 1
    except api.WeightError as e:
        sys.stderr.write(f"nndc: error: {e}\n")
        return 1
    try:
        written = api.save(model, out)
    except OSError as e:
        sys.stderr.write(f"nndc: error: cannot write {out}: {e.strerror or e}\n")
        return 2
    if args.report:
        print(format_report(report) if args.optimize else "optimization passes disabled (-O0)")
    for rep in bound:
        print("\n".join(rep.summary()))
    print(f"wrote {out}" + (f" (weights in {written[1]})" if len(written) > 1 else ""))
    return 0


def _weights_unreadable(path: str) -> str | None:
    """An I/O reason (exit 2) not to read the weights file; its content is judged by binding (exit 1)."""
    from .binding import file_problem
    why = file_problem(path)
    return None if why == "the file is empty" else why


def _input_at(out: str, inputs) -> str | None:
    """`what path` of the first (what, path) input that is the file `out`
    names (by device and inode: links and other spellings count), else None."""
    from .writer import same_file
    for what, path in inputs:
        if same_file(out, path):
            return f"{what} {path}"
    return None


def format_report(report: list) -> str:
    """The pass report as a table: rewrites and IR node counts per pass, and totals."""
    if not report:
        return "no passes ran"
    w = max(len("total"), *(len(r[0]) for r in report))
    head = f"{'pass':{w}}  {'rewrites':>8}  {'nodes':>6} -> after"
    lines = [head, "-" * len(head)]
    for name, changed, before, after in report:
        lines.append(f"{name:{w}}  {changed:>8}  {before:>6} -> {after}")
    lines.append("-" * len(head))
    total = sum(r[1] for r in report)
    first, last = report[0][2], report[-1][3]
    lines.append(f"{'total':{w}}  {total:>8}  {first:>6} -> {last}")
    return "\n".join(lines)


def _outputs(types: list[str], most: int = 4) -> str:
    """A layer's output types for the summary, kept short where a layer has
    many (`split(x, 300)`): their count and the one type, or the first few."""
    if len(types) <= most:
        return ", ".join(types)
    if len(set(types)) == 1:
        return f"{len(types)} outputs: {types[0]} each"
    return ", ".join(types[:most - 1]) + f", ... ({len(types) - most + 1} more)"


def cmd_summary(args) -> int:
    from .shapes import fmt_type
    res = _check(args, args.file)
    if not res.ok:
        emit(res.diagnostics, res.sources, args.format, files=[args.file] * len(res.diagnostics))
        return 2 if _io_error(res) else 1
    ir = res.ir
    from .ir import weight_name
    rows = []
    total = buffers = 0
    seen: set = set()   # a shared instance's weights count at its first use only
    for n in ir.order():
        d = ir.node(n)
        ws = {weight_name(d, p, w): w for p, w in (d["attrs"].get("weights") or {}).items()}
        own = {k: w for k, w in ws.items() if k not in seen}
        seen.update(ws)
        count = sum(w.size for w in own.values() if not w.buffer)
        buffers += sum(w.size for w in own.values() if w.buffer)
        total += count
        shown = "shared" if ws and not own else f"{count:,}"
        types = [fmt_type(s, ir.dtype_of(n, i)) for i, s in enumerate(d["shapes"])]
        rows.append((d["name"], d["kind"], _outputs(types), shown))
    widths = [max(len(r[i]) for r in rows + [("name", "kind", "output shape")]) for i in range(3)]
    print(f"{'name':{widths[0]}}  {'kind':{widths[1]}}  {'output shape':{widths[2]}}  {'params':>12}")
    print("-" * (sum(widths) + 18))
    for name, kind, shape, count in rows:
        print(f"{name:{widths[0]}}  {kind:{widths[1]}}  {shape:{widths[2]}}  {count:>12}")
    print("-" * (sum(widths) + 18))
    print(f"model {ir.name}: {ir.layer_count()} layers, {total:,} parameters"
          + (f" (+ {buffers:,} buffer values)" if buffers else ""))
    from .training_attrs import totals
    if (t := totals(ir)) is not None:
        print(f"training: {t['trainable']:,} trainable, {t['frozen']:,} frozen, {t['regularized']:,} regularized")
    return 0


def cmd_train(args) -> int:
    from .train import cmd_train as train
    return train(args)


def cmd_run(args) -> int:
    from .runtime import commands
    return commands.run(args)


def cmd_bench(args) -> int:
    from .runtime import commands
    return commands.bench(args)
