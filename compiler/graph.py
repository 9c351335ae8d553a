"""`nndc graph`: the declared architecture as a Graphviz drawing.

Built from `nnd.check`'s IR, so it shows the model as written (before the
passes). Block instances become clusters, found from the hierarchical node
names (`layer1.0.conv1` sits in `layer1` and `layer1.0`); at `depth` K every
instance K levels down is one box. Layer boxes show kind and parameter
count; edges carry the tensor's shape. The DOT text needs nothing else;
.svg, .png and .html run Graphviz's `dot`. Only `nndc graph` imports this.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

from .ir import weight_name
from .shapes import fmt_shape

HOW_TO_GET_DOT = ("Graphviz's `dot` is not installed: `apt install graphviz` (Debian, Ubuntu) or "
                  "`brew install graphviz` (macOS); or write DOT with -o OUT.dot, which needs nothing")


def _q(text: str) -> str:
    """A DOT string; names are identifiers, and `\\n` in a label is a line break."""
    return '"' + text.replace('"', '\\"') + '"'


def to_dot(ir, depth: int | None = None) -> str:
    """The DOT text (deterministic: node ids and order are the IR's)."""
    box: dict[int, str] = {}        # IR node -> the DOT node drawing it
    label: dict[str, list] = {}     # DOT node -> [name, kind, params, layers]
    seen: set = set()
    order: list[str] = []
    for n in ir.order():
        d = ir.node(n)
        parts = d["name"].split(".")
        ws = {weight_name(d, p, w): w for p, w in (d["attrs"].get("weights") or {}).items()}
        params = sum(w.size for k, w in ws.items() if k not in seen and not w.buffer)
        seen.update(ws)
        if depth is not None and len(parts) > depth:
            key = "b:" + ".".join(parts[:depth])
            if key not in label:
                label[key] = [".".join(parts[:depth]), "block", 0, 0]
                order.append(key)
            label[key][2] += params
            label[key][3] += 1
        else:
            key = f"n{n}"
            label[key] = [d["name"], d["kind"], params, 1]
            order.append(key)
        box[n] = key
    # Clusters: every name prefix that holds a drawn box below it.
    tree: dict = {}
    for key in order:
        parts = label[key][0].split(".")
        node = tree
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node.setdefault(None, []).append(key)
    lines = [f"digraph {_q(ir.name)} {{",
             "  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=11, labeljust=l];",
             "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#eef3fb\", fontname=\"Helvetica\", "
             "fontsize=10];",
             "  edge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\"];"]
    inputs = set(ir.inputs)

    def node_line(key: str, indent: str, prefix: str) -> str:
        name, kind, params, layers = label[key]
        short = name[len(prefix):] if prefix and name.startswith(prefix) else name
        if kind == "block":
            text = f"{name}\\nblock, {layers} layers\\n{params:,} params"
            return f"{indent}{_q(key)} [label={_q(text)}, fillcolor=\"#fdf0d5\"];"
        text = f"{short}\\n{kind}" + (f"\\n{params:,} params" if params else "")
        extra = ", shape=ellipse, fillcolor=\"#e3f4e3\"" if key.startswith("n") and int(key[1:]) in inputs else ""
        return f"{indent}{_q(key)} [label={_q(text)}{extra}];"

    def emit(node: dict, path: list, indent: str) -> None:
        prefix = ".".join(path) + "." if path else ""
        for key in node.get(None, []):
            lines.append(node_line(key, indent, prefix))
        for name in sorted((k for k in node if k is not None), key=_natural):
            sub = path + [name]
            full = ".".join(sub)
            lines.append(f"{indent}subgraph {_q('cluster_' + full)} {{")
            lines.append(f"{indent}  label={_q(full)}; style=\"rounded\"; color=\"#9aa7b8\";")
            emit(node[name], sub, indent + "  ")
            lines.append(f"{indent}}}")
    emit(tree, [], "  ")
    # Edges: one per tensor and consuming box (none inside a collapsed block).
    drawn: set = set()
    for n in ir.order():
        for src, port in ir.inputs_of(n):
            a, b = box[src], box[n]
            if a == b or (src, port, b) in drawn:
                continue
            drawn.add((src, port, b))
            shape = ir.node(src)["shapes"][port]
            text = fmt_shape(shape) if shape is not None else "?"
            lines.append(f"  {_q(a)} -> {_q(b)} [label={_q(' ' + text)}];")
    for i, o in enumerate(ir.outputs):
        key = f"out{i}"
        shape = ir.node(o.node)["shapes"][o.port]
        lines.append(f"  {_q(key)} [label={_q(o.name)}, shape=ellipse, fillcolor=\"#e3f4e3\"];")
        lines.append(f"  {_q(box[o.node])} -> {_q(key)} [label={_q(' ' + (fmt_shape(shape) if shape else '?'))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _natural(s: str):
    """layer1.2 before layer1.10."""
    return (0, int(s), "") if s.isdigit() else (1, 0, s)


def render(dot_text: str, fmt: str) -> bytes:
    """Run Graphviz's `dot` (RuntimeError with HOW_TO_GET_DOT when missing)."""
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(HOW_TO_GET_DOT)
    r = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode(), capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("dot failed: " + r.stderr.decode(errors="replace").strip())
    return r.stdout


def html_page(title: str, svg: str) -> str:
    """A self-contained page: the SVG inline, no scripts or links."""
    import html
    body = svg[svg.index("<svg"):] if "<svg" in svg else svg
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html.escape(title)
            + "</title>\n<style>body{margin:0;font-family:Helvetica,sans-serif}"
              "h1{font-size:16px;margin:8px}svg{max-width:100%;height:auto}</style></head>\n"
            + "<body><h1>" + html.escape(title) + "</h1>\n" + body + "\n</body></html>\n")


def cmd_graph(ir, output: str | None, depth: int | None) -> int:
    text = to_dot(ir, depth)
    if output is None or output.endswith(".dot") or output.endswith(".gv"):
        if output is None:
            sys.stdout.write(text)
            return 0
        data = text.encode()
    else:
        ext = output.rsplit(".", 1)[-1].lower() if "." in output else ""
        if ext not in ("svg", "png", "html"):
            sys.stderr.write(f"nndc: error: cannot tell the format of {output}: "
                             "name it .dot, .svg, .png or .html\n")
            return 2
        try:
            data = render(text, "png" if ext == "png" else "svg")
        except RuntimeError as e:
            sys.stderr.write(f"nndc: error: {e}\n")
            return 2
        if ext == "html":
            data = html_page(f"{ir.name} (nndc graph)", data.decode()).encode()
    try:
        with open(output, "wb") as f:
            f.write(data)
    except OSError as e:
        sys.stderr.write(f"nndc: error: cannot write {output}: {e.strerror or e}\n")
        return 2
    print(f"wrote {output}")
    return 0
