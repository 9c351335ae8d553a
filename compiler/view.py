"""`nndc view FILE`: the compiled model in Netron (the `netron` package,
the `view` extra), served on localhost and opened in the browser.

A .nnd file is compiled (with its passes, as `nndc compile`) into a private
temporary directory, removed when the viewer stops; an .onnx file is shown
as it is. nndc's ONNX carries value_info, so Netron labels edges with shapes.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

from . import api
from .cli_source import _check, _io_error, _shown
from .emit import emit

HINT = "nndc: error: nndc view needs Netron: pip install 'nnd[view]'\n"


def cmd_view(args) -> int:
    try:
        import netron
    except ImportError:
        sys.stderr.write(HINT)
        return 2
    if args.file != "-" and not args.file.endswith(".nnd"):   # an .onnx (or other) model: Netron reads it
        from .runtime.inputs import not_regular
        if why := not_regular(args.file):
            sys.stderr.write(f"nndc: error: cannot read {args.file}: {why}\n")
            return 2
        return _show(netron, args.file)
    res = _check(args, args.file)
    if not res.ok:
        emit(res.diagnostics, res.sources, "text", colour=args.color,
             files=[_shown(args.file)] * len(res.diagnostics))
        return 2 if _io_error(res) else 1
    if res.diagnostics:
        emit(res.diagnostics, res.sources, "text", colour=args.color)
    try:
        model = api.compile(res.path, text=args.stdin_text, model=args.model, params=dict(args.param),
                            seed=args.seed, allow_outside=args.allow_outside_imports, checked=res, lazy=True)
    except api.CompileFailed as e:
        emit(e.result.diagnostics, e.result.sources, "text", colour=args.color,
             files=[_shown(args.file)] * len(e.result.diagnostics))
        return 1
    tmp = tempfile.mkdtemp(prefix="nndc-view-")   # mode 0700: only this user reads the model
    try:
        name = "stdin" if args.file == "-" else os.path.splitext(os.path.basename(args.file))[0]
        out = os.path.join(tmp, name + ".onnx")
        try:
            api.save(model, out)
        except OSError as e:
            sys.stderr.write(f"nndc: error: cannot write {out}: {e.strerror or e}\n")
            return 2
        return _show(netron, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _show(netron, path: str) -> int:
    print(f"nndc: showing {path} in Netron (Ctrl-C stops the viewer)", file=sys.stderr)
    netron.start(path, browse=True)
    wait = getattr(netron, "wait", None)   # the server thread is a daemon: keep the process alive
    if wait is not None:
        wait()
    return 0
