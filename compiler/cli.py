"""nndc: the command line, a thin shell over nnd.api.

Exit codes: 0 success, 1 diagnostics (errors, or warnings with
--deny-warnings), 2 usage or I/O errors, 3 an internal error (a bug), 141
when the reader of the output went away (`nndc summary m.nnd | head -3`),
as for a Unix tool that SIGPIPE ends (128 + 13), without a message.
The argument parser and the help are in cli_parser.py.
"""

from __future__ import annotations

import os
import sys

from . import api
from .cli_parser import build_parser, usage_text
from .cli_source import _check, _io_error, _shown
from .emit import emit



def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.version:
        from .cli_info import versions
        print(versions())
        return 0
    if args.cmd is None:   # bare `nndc`: what there is to do, not argparse's complaint
        sys.stderr.write(usage_text())
        return 2
    if argv is None:
        _clean_up_on_termination()
    try:
        rc = _dispatch(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_gone(argv is None)
    except Exception as e:  # a bug in nndc, never the input's fault: no traceback unless asked
        if os.environ.get("NND_BACKTRACE"):
            raise
        message = f"internal compiler error: {type(e).__name__}: {e}"
        fmt = getattr(args, "format", "text")
        if fmt != "text":   # the document on stdout, where the diagnostics go; people read stderr
            _internal_error_document(message, fmt, sys.stdout)
        sys.stderr.write(f"nndc: {message}\n"
                         "this is a bug in nndc; please report it with the input that caused it "
                         "(NND_BACKTRACE=1 shows where it happened)\n")
        return 3
    if argv is None:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            return _reader_gone(True)
        if args.cmd == "compile":
            _exit_now(rc)
    return rc


def _dispatch(args) -> int:
    from . import cli_info
    if args.cmd == "explain":
        return cli_info.cmd_explain(args)
    stdin = [f for f in getattr(args, "files", [getattr(args, "file", None)]) if f == "-"]
    if len(stdin) > 1:
        sys.stderr.write("nndc: error: `-` (standard input) can be given once\n")
        return 2
    if stdin and args.cmd in ("run", "bench", "train"):
        sys.stderr.write(f"nndc: error: nndc {args.cmd} needs a file; `-` (standard input) is for "
                         "compile, check and summary\n")
        return 2
    args.stdin_text = sys.stdin.read() if stdin else None
    return {"compile": cmd_compile, "check": cmd_check, "summary": cli_info.cmd_summary,
            "graph": cli_info.cmd_graph, "run": cmd_run, "bench": cmd_bench, "train": cmd_train,
            "export": cmd_export, "fmt": _cmd_fmt, "lsp": _cmd_lsp, "view": _cmd_view}[args.cmd](args)


def _cmd_fmt(args) -> int:   # the formatter and the server load only for their commands
    from .fmt import cmd_fmt
    return cmd_fmt(args)


def _cmd_lsp(args) -> int:
    from .lsp import cmd_lsp
    return cmd_lsp(args)


def _cmd_view(args) -> int:   # netron loads only here
    from .view import cmd_view
    return cmd_view(args)


def _reader_gone(as_command: bool) -> int:
    """The output's reader closed it (`| head`): stop quietly, 128 + SIGPIPE.
    Whatever is still buffered goes to /dev/null, so that Python's own flush
    at exit does not complain."""
    if as_command:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
    return 141


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


def cmd_check(args) -> int:
    worst = 0
    all_diags, files = [], []
    for path in args.files:
        res = _check(args, path)
        all_diags.extend(res.diagnostics)
        files += [_shown(path)] * len(res.diagnostics)
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
    machine = args.format != "text"   # json and sarif: the diagnostics, warnings too, on stdout
    if args.file == "-" and not args.output:
        sys.stderr.write("nndc: error: reading the source from standard input (-) needs -o OUT.onnx\n")
        return 2
    res = _check(args, args.file)
    diag_out = sys.stdout if machine else None
    files = [_shown(args.file)] * len(res.diagnostics)
    if not res.ok:
        emit(res.diagnostics, res.sources, args.format, diag_out, colour=args.color, files=files)
        return 2 if _io_error(res) else 1
    if res.diagnostics and not machine:
        emit(res.diagnostics, res.sources, "text", colour=args.color)
    out = args.output or os.path.splitext(args.file)[0] + ".onnx"
    inputs = [("the source file", args.file)] if args.file != "-" else []
    inputs += [("the imported file", os.path.relpath(f)) for f in res.files[1:]]
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
    deploying = bool(args.quantize or args.precision not in (None, "fp32") or args.calibrate
                     or args.calibration_method or args.io_half)
    if deploying:
        from .runtime.deploy import check_options
        if why := check_options(args):
            sys.stderr.write(f"nndc: error: {why}\n")
            return 2
    if args.weights and (why := _weights_unreadable(args.weights)):
        sys.stderr.write(f"nndc: error: cannot read weights `{args.weights}`: {why}\n")
        return 2
    report: list = []
    bound: list = []
    try:
        model = api.compile(res.path, text=args.stdin_text, model=args.model, params=dict(args.param),
                            seed=args.seed, weights=args.weights, optimize=args.optimize,
                            allow_outside=args.allow_outside_imports, report=report,
                            keep_training_outputs=args.keep_training_outputs,
                            partial=args.partial, freeze=args.freeze, weight_report=bound,
                            lazy=True, checked=res, allow_nonfinite=args.allow_nonfinite,
                            max_weights_size=args.max_weights_size)
    except api.CompileFailed as e:
        emit(e.result.diagnostics, e.result.sources, args.format, diag_out, colour=args.color,
             files=[_shown(args.file)] * len(e.result.diagnostics))
        return 1
    except api.WeightError as e:
        sys.stderr.write(f"nndc: error: {e}\n")
        return 1
    extra: list = []
    if deploying:
        rc = _deploy(args, model, extra)
        if isinstance(rc, int):
            return rc
        model = rc
    try:
        written = api.save(model, out)
    except OSError as e:
        sys.stderr.write(f"nndc: error: cannot write {out}: {e.strerror or e}\n")
        return 2
    if machine:
        emit(res.diagnostics, res.sources, args.format, sys.stdout, files=files)
    said = sys.stderr if machine else sys.stdout   # stdout holds only the document
    if args.report:
        print(format_report(report) if args.optimize else "optimization passes disabled (-O0)", file=said)
    for rep in bound:
        print("\n".join(rep.summary()), file=said)
    for line in extra:
        print(line, file=said)
    print(f"wrote {out}" + (f" (weights in {written[1]})" if len(written) > 1 else ""), file=said)
    return 0


def _deploy(args, model, lines: list):
    """--quantize / --precision on the compiled float model: the new model, or an exit code."""
    from .runtime.deploy import DeployError, transform
    from .runtime.inputs import UsageError
    try:
        model, more = transform(args, model.to_proto())
    except UsageError as e:
        sys.stderr.write(f"nndc: error: {e}\n")
        return 2
    except DeployError as e:
        sys.stderr.write(f"nndc: error: {e}\n")
        return 1
    lines.extend(more)
    return model


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


def cmd_train(args) -> int:
    from .train import cmd_train as train
    return train(args)


def cmd_run(args) -> int:
    from .runtime import commands
    return commands.run(args)


def cmd_export(args) -> int:
    from .runtime.deploy import export
    return export(args)


def cmd_bench(args) -> int:
    from .runtime import commands
    return commands.bench(args)
