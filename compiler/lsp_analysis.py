"""What the language server knows about one document, without pygls:
diagnostics (nnd.check on the editor's text, imports resolved from the
document's directory), hover (a tensor's shape; a layer's parameters and
parameter count), definitions (blocks, models, imports) and completions.
Lines and columns here are 1-based, as in nnd's spans; compiler/lsp.py
converts to the protocol's 0-based positions.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass

from . import ast

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Location:
    path: str
    line: int
    column: int
    end_line: int
    end_column: int


def _contains(span, line: int, col: int) -> bool:
    return (span.line, span.column) <= (line, col) < (span.end_line, span.end_column)


def _inside(inner, outer) -> bool:
    return (outer.line, outer.column) <= (inner.line, inner.column) and \
        (inner.end_line, inner.end_column) <= (outer.end_line, outer.end_column)


class Document:
    def __init__(self, text: str, path: str):
        from .api import check
        from .parser import ParseError, parse
        self.text, self.path = text, path
        # relative imports resolve from the document's directory, which is also the project root
        with contextlib.chdir(os.path.dirname(os.path.abspath(path)) or "."):
            self.result = check(os.path.abspath(path), text=text)
        self.display = os.path.abspath(path)
        try:
            self.program = parse(text, self.display)
        except ParseError:
            self.program = None
        self.lines = text.split("\n")

    # ---------------------------------------------------------------- words

    def word_at(self, line: int, col: int):
        """The identifier at (line, col) and its start column, or (None, 0)."""
        if not 1 <= line <= len(self.lines):
            return None, 0
        for m in _WORD.finditer(self.lines[line - 1]):
            if m.start() + 1 <= col <= m.end():
                return m.group(), m.start() + 1
        return None, 0

    def definitions(self) -> dict:
        """Name -> (kind, Definition/ModelInstance node, path) of every block
        and model in the document and the files it imports."""
        out = {}
        for path, prog in [(self.display, self.program)] + self._imported():
            for item in (prog.items if prog else []):
                if isinstance(item, (ast.Definition, ast.ModelInstance)):
                    out.setdefault(item.name, (item, path))
        return out

    def _imported(self) -> list:
        from .parser import ParseError, parse
        out = []
        for item in (self.program.items if self.program else []):
            if isinstance(item, ast.Import):
                path = self.import_path(item)
                if path and os.path.isfile(path):
                    try:
                        with open(path, encoding="utf-8") as f:
                            out.append((path, parse(f.read(), path)))
                    except (OSError, UnicodeDecodeError, ParseError):
                        pass
        return out

    def import_path(self, item: ast.Import) -> str | None:
        if item.is_file:
            return os.path.normpath(os.path.join(os.path.dirname(self.display), item.module))
        if item.module.startswith("std."):
            from importlib import resources
            return str(resources.files("nnd.stdlib").joinpath(item.module[4:] + ".nnd"))
        return None

    # ---------------------------------------------------------------- definition

    def definition(self, line: int, col: int) -> Location | None:
        for item in (self.program.items if self.program else []):
            if isinstance(item, ast.Import) and _contains(item.span, line, col):
                path = self.import_path(item)
                return Location(path, 1, 1, 1, 1) if path and os.path.isfile(path) else None
        word, _ = self.word_at(line, col)
        found = self.definitions().get(word) if word else None
        if found is None:
            return None
        node, path = found
        s = node.name_span
        return Location(path, s.line, s.column, s.end_line, s.end_column)

    # ---------------------------------------------------------------- hover

    def _nodes(self):
        ir = self.result.ir
        if ir is None:
            return []
        return [(n, d) for n, d in ir.nodes() if d.get("span") is not None and d["span"].file == self.display]

    def hover(self, line: int, col: int) -> str | None:
        word, _ = self.word_at(line, col)
        if word is None:
            return None
        from .layers import REGISTRY, load_all
        load_all()
        if word in REGISTRY:
            here = [(n, d) for n, d in self._nodes() if d["kind"] == word and _contains(d["span"], line, col)]
            if here:
                return self._layer_hover(here)
            return f"**{word}** (layer)\n\n{REGISTRY[word].doc or ''}".strip()
        defs = self.definitions()
        if word in defs:
            node, _ = defs[word]
            return "```nnd\n" + self._signature(node) + "\n```"
        shape = self._tensor(word, line, col)
        if shape is not None:
            return f"`{word}`: {shape}"
        return None

    def _layer_hover(self, nodes) -> str:
        from .ir import weight_name
        from .shapes import fmt_type
        ir = self.result.ir
        n, d = nodes[0]
        kind = d["kind"]
        from .layers import REGISTRY
        params = [p.name for p in REGISTRY[kind].params]
        args = ", ".join(f"{k} = {d['attrs'][k]!r}" for k in params if k in d["attrs"])
        ws = d["attrs"].get("weights") or {}
        count = sum(w.size for w in ws.values() if not w.buffer)
        shapes = ", ".join(fmt_type(s, ir.dtype_of(n, i)) for i, s in enumerate(d["shapes"]))
        text = f"**{kind}** `{d['name']}` → {shapes}\n\n"
        if args:
            text += f"{kind}({args.replace('True', 'true').replace('False', 'false')})\n\n"
        text += f"{count:,} parameters"
        if ws:
            text += " (" + ", ".join(f"{weight_name(d, p, w)} {list(w.shape)}" for p, w in ws.items()) + ")"
        if len(nodes) > 1:
            text += f"\n\n{len(nodes)} instances; the first is shown"
        return text

    def _signature(self, node) -> str:
        lines = self.text.split("\n") if node.span.file == self.display else _read_lines(node.span.file)
        first = lines[node.span.line - 1] if node.span.line <= len(lines) else node.name
        return first.rstrip().rstrip("{").rstrip()

    def _tensor(self, word: str, line: int, col: int, depth: int = 0) -> str | None:
        """The shape of the tensor `word` names at (line, col): the value of
        the nearest statement before it that binds the name."""
        from .shapes import fmt_type
        if self.program is None or self.result.ir is None or depth > 20:
            return None
        stmt = None
        for item in self.program.items:
            if isinstance(item, ast.Definition) and _contains(item.span, line, col):
                for s in _statements(item.body):
                    value = getattr(s, "value", None)
                    if (s.span.line, s.span.column) <= (line, col) and word in _binds(s) and \
                            not (value is not None and _contains(value.span, line, col)):
                        stmt = s
        if stmt is None:
            return None
        ir = self.result.ir
        if isinstance(stmt, ast.Input):
            for n, d in self._nodes():
                if d["kind"] == "Input" and d["span"] == stmt.span:
                    return fmt_type(d["shapes"][0], ir.dtype_of(n, 0))
            return None
        value = stmt.value
        inside = [(n, d) for n, d in self._nodes() if _inside(d["span"], value.span)]
        if inside:
            n, d = max(inside, key=lambda x: x[0])
            return fmt_type(d["shapes"][0], ir.dtype_of(n, 0))
        if isinstance(value, ast.Name) and value.id != word:
            return self._tensor(value.id, value.span.line, value.span.column, depth + 1)
        return None

    # ---------------------------------------------------------------- completion

    def completions(self, line: int, col: int) -> list[tuple[str, str, str]]:
        """(label, kind, detail): keyword arguments of the call the cursor is
        in (first), then layer names, blocks and models."""
        from .layers import REGISTRY, load_all
        load_all()
        out = []
        callee = self._callee(line, col)
        defs = self.definitions()
        if callee in REGISTRY:
            out += [(p.name + " = ", "keyword", p.doc or p.type) for p in REGISTRY[callee].params]
        elif callee in defs and isinstance(defs[callee][0], ast.Definition):
            out += [(p.name + " = ", "keyword", f"parameter of {callee}") for p in defs[callee][0].params]
        out += [(name, "layer", (entry.doc or "").split("\n")[0]) for name, entry in sorted(REGISTRY.items())]
        out += [(name, "block" if getattr(node, "kind", "model") == "block" else "model", os.path.basename(path))
                for name, (node, path) in sorted(defs.items())]
        return out

    def _callee(self, line: int, col: int) -> str | None:
        """The name before the innermost `(` still open at (line, col)."""
        offset = sum(len(x) + 1 for x in self.lines[:line - 1]) + col - 1
        depth = 0
        i = offset - 1
        while i >= 0:
            c = self.text[i]
            if c in ")]":
                depth += 1
            elif c in "([":
                if depth == 0:
                    if c == "[":
                        return None
                    m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", self.text[:i])
                    return m.group(1) if m else None
                depth -= 1
            elif c in "{}":
                return None
            i -= 1
        return None


def _statements(body):
    for s in body:
        yield s
        if isinstance(s, ast.If):
            yield from _statements(s.then)
            orelse = s.orelse or []
            yield from _statements(orelse if isinstance(orelse, list) else [orelse])
        elif isinstance(s, ast.For):
            yield from _statements(s.body)


def _binds(s) -> list[str]:
    if isinstance(s, ast.Input):
        return [s.name]
    if isinstance(s, (ast.Assign, ast.Output)) and s.value is not None:
        return list(s.names)
    return []


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().split("\n")
    except (OSError, UnicodeDecodeError):
        return []
