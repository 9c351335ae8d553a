"""nndc's informational commands: `summary`, `graph`, `explain`, `--version`, and
what `nndc run -v` says about the onnxruntime it found."""

from __future__ import annotations

import platform
import sys

from .cli_source import _check, _io_error, _shown
from .emit import emit


def onnxruntime_build() -> str:
    """Which onnxruntime distribution provides `import onnxruntime`, its
    version and providers. onnxruntime and onnxruntime-gpu both install the
    same import package: with both present, the one imported is whichever
    was installed last, so say so."""
    from importlib.metadata import packages_distributions, version
    dists = sorted(set(packages_distributions().get("onnxruntime", [])))
    try:
        import onnxruntime as ort
        providers = ", ".join(ort.get_available_providers())
        found = f"{', '.join(f'{d} {version(d)}' for d in dists) or 'onnxruntime'} " \
                f"(imports as onnxruntime {ort.__version__}; providers: {providers})"
    except ImportError as e:
        return f"onnxruntime: not importable ({e})"
    if len(dists) > 1:
        found += (f"; warning: {' and '.join(dists)} are both installed and share the import package "
                  f"`onnxruntime`: uninstall both, then install one")
    return "onnxruntime: " + found


def versions() -> str:
    from .sarif import _version
    return "\n".join([f"nndc {_version()}", onnxruntime_build(),
                      f"Python {platform.python_version()} ({sys.platform}, {platform.machine()})"])


def cmd_explain(args) -> int:
    from .catalogue_text import explanation
    from .diagnostics import CATALOGUE, did_you_mean
    code = args.code.strip().upper()
    if code not in CATALOGUE:
        alt = did_you_mean(code, list(CATALOGUE))
        sys.stderr.write(f"nndc: error: no diagnostic code `{args.code}`"
                         + (f"; did you mean `{alt}`?" if alt else "") + "\n")
        return 2
    severity, title = CATALOGUE[code]
    text = explanation(code) or "(no explanation written yet)"
    print(f"{code} ({severity}): {title}\n\n{text}")
    return 0


def cmd_summary(args) -> int:
    if (why := _not_nnd(args.file, "summary")):
        sys.stderr.write(why)
        return 2
    res = _check(args, args.file)
    if not res.ok:
        emit(res.diagnostics, res.sources, args.format, sys.stdout if args.format != "text" else None,
             colour=args.color, files=[_shown(args.file)] * len(res.diagnostics))
        return 2 if _io_error(res) else 1
    from .model_summary import render, summarize
    data = summarize(res.ir, args.depth)
    if args.format == "json":
        import json
        print(json.dumps(data, indent=2))
    else:
        print(render(data))
    return 0


def _not_nnd(path: str, cmd: str) -> str | None:
    """A compiled model given where a .nnd source is needed: the message (exit 2)."""
    if path.endswith(".onnx"):
        return (f"nndc: error: `nndc {cmd}` reads a .nnd source, and {path} is an ONNX model; "
                f"run it on the .nnd file it was compiled from (or open the .onnx in Netron)\n")
    return None


def cmd_graph(args) -> int:
    from .graph import cmd_graph as graph
    if (why := _not_nnd(args.file, "graph")):
        sys.stderr.write(why)
        return 2
    res = _check(args, args.file)
    if not res.ok:
        emit(res.diagnostics, res.sources, "text", colour=args.color)
        return 2 if _io_error(res) else 1
    return graph(res.ir, args.output, args.depth)
