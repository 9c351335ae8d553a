"""nndc's informational commands: `summary`, `explain`, `--version`, and
what `nndc run -v` says about the onnxruntime it found."""

from __future__ import annotations

import platform
import sys

from .cli import _check, _io_error, _shown
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
    from .shapes import fmt_type
    res = _check(args, args.file)
    if not res.ok:
        emit(res.diagnostics, res.sources, args.format, sys.stdout if args.format != "text" else None,
             colour=args.color, files=[_shown(args.file)] * len(res.diagnostics))
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
        rows.append((d["name"], d["kind"], ", ".join(fmt_type(s, ir.dtype_of(n, i)) for i, s in enumerate(d["shapes"])),
                     shown))
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
