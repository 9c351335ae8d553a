"""Random programs and random damage, for the robustness property: no input
makes `nndc check` raise, every run exits 0 or 1, and a failing run points at
a real place in the source.

Two kinds of input: grammatical programs built from the layer catalogue
(random layers, arguments, shapes, merges, splits, loops, conditions and
blocks that call each other, recursion included), and the example and UI
programs damaged at random (tokens deleted, numbers swapped, the file
truncated, random bytes, invalid UTF-8, very long lines). A third kind calls
every builtin and every layer with no arguments, very many, or huge
integers (1000000000 and past int64). Used by
tests/test_fuzz.py (a few hundred cases) and scripts/fuzz.py (as many as
you like).
"""

from __future__ import annotations

import glob
import io
import json
import os
import sys

from hypothesis import strategies as st

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _layers():
    from nnd.layers import load_all
    return load_all()


def seed_corpus() -> list[bytes]:
    files = sorted(glob.glob(os.path.join(REPO, "examples", "*.nnd")) +
                   glob.glob(os.path.join(REPO, "stdlib", "*.nnd")) +
                   glob.glob(os.path.join(REPO, "tests", "ui", "*.nnd")))
    out = []
    for f in files:
        with open(f, "rb") as fh:
            out.append(fh.read())
    return out


# ------------------------------------------------------------ grammatical programs

SMALL_INT = st.one_of(st.integers(1, 8), st.integers(-2, 70), st.sampled_from([0, 1, 2, 3, 16, 32, 64]))
NUMBER = st.one_of(SMALL_INT, st.floats(-1, 2, allow_nan=False).map(lambda f: round(f, 2)))


def _value(draw, ptype: str, names: list[str]) -> str:
    """Text of an argument, mostly of the parameter's type, sometimes not."""
    if draw(st.integers(0, 9)) == 0:   # a wrong type now and then
        return draw(st.sampled_from(['"same"', "true", "1.5", "(2, 3)", "[]", "x", "-1", "0"] + names[:2]))
    if ptype in ("int",):
        return str(draw(SMALL_INT))
    if ptype in ("ints", "ints?"):
        if draw(st.booleans()):
            return str(draw(st.integers(1, 5)))
        return "(" + ", ".join(str(draw(st.integers(0, 5))) for _ in range(draw(st.integers(1, 3)))) + ")"
    if ptype in ("float", "floats"):
        return str(draw(st.sampled_from([0.0, 0.1, 0.5, 0.99, 1.0, 1e-5, 2.0])))
    if ptype == "bool":
        return draw(st.sampled_from(["true", "false"]))
    if ptype == "padding":
        return draw(st.sampled_from(["0", "1", "2", '"same"', '"valid"', "(1, 0)", "[(0, 1), (1, 0)]"]))
    if ptype == "str":
        return draw(st.sampled_from(['"zeros"', '"reflect"', '"replicate"', '"nope"']))
    return str(draw(SMALL_INT))


@st.composite
def layer_call(draw, names: list[str], blocks: list[str]) -> str:
    reg = _layers()
    kinds = sorted(reg)
    if blocks and draw(st.integers(0, 4)) == 0:
        b = draw(st.sampled_from(blocks))
        return f"{b}({draw(SMALL_INT)})"
    kind = draw(st.sampled_from(kinds))
    spec = reg[kind]
    params = list(spec.params)
    if not params:
        return kind if draw(st.integers(0, 6)) else f"{kind}()"
    args = []
    from nnd.layers.base import REQUIRED
    required = [p for p in params if p.default is REQUIRED]
    n_pos = draw(st.integers(0, min(len(params), 3)))
    n_pos = max(n_pos, len(required)) if draw(st.integers(0, 5)) else n_pos
    for p in params[:n_pos]:
        args.append(_value(draw, p.type, names))
    for p in params[n_pos:]:
        if draw(st.integers(0, 3)) == 0:
            name = p.name if draw(st.integers(0, 8)) else p.name[:-1]
            args.append(f"{name} = {_value(draw, p.type, names)}")
    return f"{kind}({', '.join(args)})"


@st.composite
def pipeline(draw, names: list[str], blocks: list[str]) -> str:
    src = draw(st.sampled_from(names))
    stages = draw(st.lists(layer_call(names, blocks), min_size=1, max_size=4))
    parts = []
    for s in stages:
        k = draw(st.integers(0, 9))
        if k == 0:
            parts.append(f"{s} * {draw(st.integers(0, 4))}")
        elif k == 1:
            parts.append(f"{s} as l{draw(st.integers(0, 3))}")
        else:
            parts.append(s)
    return f"{src} -> " + " -> ".join(parts)


@st.composite
def merge(draw, names: list[str]) -> str:
    a, b = draw(st.sampled_from(names)), draw(st.sampled_from(names))
    k = draw(st.integers(0, 4))
    if k == 0:
        return f"{a} + {b}"
    if k == 1:
        return f"{a} * {b}"
    if k == 2:
        return f"concat({a}, {b}{', axis = ' + str(draw(st.integers(-2, 3))) if draw(st.booleans()) else ''})"
    if k == 3:
        return f"add({a}, {b})"
    return f"({a} - {b}) -> ReLU"


def _shape(draw) -> str:
    rank = draw(st.sampled_from([2, 3, 4, 4, 5]))
    dims = ["N" if draw(st.integers(0, 5)) else str(draw(st.integers(1, 4)))]
    for i in range(rank - 1):
        if i > 0 and draw(st.integers(0, 6)) == 0:
            dims.append(draw(st.sampled_from(["H", "W", "D"])))
        else:
            dims.append(str(draw(st.sampled_from([1, 2, 3, 4, 7, 8, 16, 28, 32]))))
    return "[" + ", ".join(dims) + "]"


@st.composite
def body(draw, names: list[str], blocks: list[str], indent: str, depth: int = 0) -> list[str]:
    lines = []
    for i in range(draw(st.integers(1, 5))):
        k = draw(st.integers(0, 11))
        var = f"t{len(names)}"
        if k <= 4:
            lines.append(f"{indent}{var} = {draw(pipeline(names, blocks))}")
            names.append(var)
        elif k <= 6:
            lines.append(f"{indent}{var} = {draw(merge(names))}")
            names.append(var)
        elif k == 7:
            a = draw(st.sampled_from(names))
            parts = draw(st.sampled_from(["2", "3", "[1, 2]"]))
            lines.append(f"{indent}{var}, {var}b = split({a}, {parts})")
            names += [var, var + "b"]
        elif k == 8 and depth < 2:
            a = draw(st.sampled_from(names))
            inner = draw(body([a] + names, blocks, indent + "    ", depth + 1))
            lines.append(f"{indent}for i in 0..{draw(st.integers(0, 4))} {{")
            lines.append(f"{indent}    {a} = {a} -> {draw(layer_call(names, blocks))}")
            lines += inner
            lines.append(f"{indent}}}")
        elif k == 9 and depth < 2:
            a = draw(st.sampled_from(names))
            cond = draw(st.sampled_from([f"{a}.rank == 4", f"{a}.channels > 8", "true", f"{a}.shape[0] == 1"]))
            lines.append(f"{indent}if {cond} {{")
            lines += draw(body(list(names), blocks, indent + "    ", depth + 1))
            lines.append(f"{indent}}} else {{")
            lines.append(f"{indent}    {a} = {a} -> Identity")
            lines.append(f"{indent}}}")
        elif k == 10:
            lines.append(f"{indent}{draw(st.sampled_from(names))}: {_shape(draw)}")
        else:
            lines.append(f"{indent}let k{len(lines)} = {draw(SMALL_INT)} * {draw(SMALL_INT)} + len([1, 2])")
    return lines


@st.composite
def program(draw) -> str:
    out = []
    blocks: list[str] = []
    for b in range(draw(st.integers(0, 2))):
        name = f"Blk{b}"
        callable_ = blocks + ([name] if draw(st.integers(0, 5)) == 0 else [])   # sometimes recursive
        out.append(f"block {name}(width = 4) {{")
        out.append("    input x")
        names = ["x"]
        out += draw(body(names, callable_, "    "))
        out.append(f"    output y = {draw(st.sampled_from(names))}")
        out.append("}")
        out.append("")
        blocks.append(name)
    out.append(f"model M(classes = {draw(SMALL_INT)}) {{")
    names = []
    for i in range(draw(st.integers(1, 2))):
        out.append(f"    input in{i}: {_shape(draw)}")
        names.append(f"in{i}")
    out += draw(body(names, blocks, "    "))
    out.append(f"    output y = {draw(st.sampled_from(names))}")
    out.append("}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------ argument lists

BUILTINS = ("concat", "add", "subtract", "multiply", "split", "len", "min", "max", "int")
HUGE_INT = st.sampled_from(["1000000000", "-1000000000", "4611686018427387904", "9223372036854775807",
                            "99999999999999999999", "65536", "0", "-1"])


def _argument(draw) -> str:
    k = draw(st.integers(0, 7))
    if k <= 2:
        return draw(HUGE_INT)
    if k == 3:
        return "x"
    if k == 4:
        return "[" + ", ".join([draw(HUGE_INT)] * draw(st.integers(0, 3))) + "]"
    if k == 5:
        return f"({draw(HUGE_INT)}, {draw(HUGE_INT)})"
    if k == 6:
        return draw(st.sampled_from(['"same"', "true", "1.5", "1e300", "inf"]))
    return f"{draw(st.sampled_from(['axis', 'sections', 'out_features', 'kernel_size']))} = {draw(HUGE_INT)}"


@st.composite
def arguments(draw) -> str:
    """A builtin or a layer called with no arguments, with a huge argument
    list, or with huge integers; alone in a model, at the top level or in
    a block."""
    callee = draw(st.sampled_from(BUILTINS + tuple(sorted(_layers()))))
    k = draw(st.integers(0, 3))
    if k == 0:
        args = []                                                   # empty
    elif k == 1:                                                    # huge: one argument many times
        args = [_argument(draw)] * draw(st.sampled_from([100, 1000, 5000]))
    elif k == 2:                                                    # tensors, many times
        args = ["x"] * draw(st.sampled_from([2, 100, 2000]))
    else:                                                           # a few, huge integers among them
        args = [draw(st.sampled_from(["x", "x"] + [draw(HUGE_INT)])) for _ in range(draw(st.integers(1, 4)))]
        args += [_argument(draw) for _ in range(draw(st.integers(0, 2)))]
    call = f"{callee}({', '.join(args)})"
    if callee[:1].isupper() and draw(st.integers(0, 2)):
        call = f"x -> {call}" if draw(st.booleans()) else f"{call}"
    shape = draw(st.sampled_from(["[N, 3]", "[2, 4, 8]", "[N, 3, 8, 8]", "[1, 2, 4, 4, 4]", "[N]"]))
    where = draw(st.integers(0, 3))
    model = ["model M {", f"    input x: {shape}"]
    if where == 0:                                                  # a tensor statement
        model += [f"    t = {call}", "    output y = x"]
    elif where == 1:                                                # a value
        model += [f"    let v = {call}", "    output y = x"]
    elif where == 2:                                                # unpacked
        model += [f"    a, b = {call}", "    output y = a"]
    else:                                                           # at the top level
        return f"let g = {call}\n" + "\n".join(model + ["    output y = x", "}"]) + "\n"
    return "\n".join(model + ["}"]) + "\n"


# ------------------------------------------------------------ damaged programs

@st.composite
def mutated(draw) -> bytes:
    corpus = seed_corpus()
    data = bytearray(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.integers(0, 8))
        n = len(data)
        pos = draw(st.integers(0, max(0, n)))
        if op == 0 and n:                               # delete a token-sized span
            del data[pos:pos + draw(st.integers(1, 12))]
        elif op == 1:                                   # swap a number for another
            import re
            nums = [m.span() for m in re.finditer(rb"\d+", bytes(data))]
            if nums:
                a, b = draw(st.sampled_from(nums))
                new = draw(st.sampled_from([b"0", b"1", b"-1", b"999999999999", b"3", b"1000000",
                                            b"9" * 50, b"65536", b"2.5"]))
                data[a:b] = new
        elif op == 2:                                   # truncate
            del data[pos:]
        elif op == 3:                                   # random bytes
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == 4:                                   # invalid UTF-8
            data[pos:pos] = draw(st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\x00"]))
        elif op == 5:                                   # a very long line
            data[pos:pos] = draw(st.sampled_from([b"x", b"(", b"[", b"-> ReLU ", b"1 + ", b"- "])) * \
                draw(st.integers(100, 3000))
        elif op == 6:                                   # insert a token
            data[pos:pos] = draw(st.sampled_from([b"{", b"}", b"(", b")", b"->", b",", b"\n", b"model", b"input",
                                                  b"=", b"..", b" as ", b"import std.x\n", b'"', b"#", b"\\\n"]))
        elif op == 7 and n:                             # duplicate a line
            lines = bytes(data).split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i])
            data = bytearray(b"\n".join(lines))
        else:                                           # swap two lines
            lines = bytes(data).split(b"\n")
            if len(lines) > 2:
                i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
                data = bytearray(b"\n".join(lines))
    return bytes(data)


# ------------------------------------------------------------ the property

def _valid_span(span, texts: dict) -> str | None:
    """None if the span lies in a known file's text, or the problem."""
    text = texts.get(span.file)
    if text is None:
        return f"span in an unknown file {span.file!r}"
    lines = text.split("\n")
    if not 1 <= span.line <= len(lines):
        return f"line {span.line} outside 1..{len(lines)}"
    if not 1 <= span.column <= len(lines[span.line - 1]) + 1:
        return f"column {span.column} outside line {span.line} (length {len(lines[span.line - 1])})"
    if (span.end_line, span.end_column) < (span.line, span.column):
        return "span ends before it starts"
    if span.end_line > len(lines):
        return f"end line {span.end_line} past the end"
    return None


def check_input(data: bytes, directory: str, name: str = "fuzz.nnd") -> dict:
    """Run `nndc check` on `data` (in-process) and assert the property.
    Returns a summary (codes reported) for statistics."""
    from nnd import api, cli
    from nnd.diagnostics import render
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(data)
    res = api.check(path)                                    # must not raise
    texts = dict(res.sources.texts)
    errors = [d for d in res.diagnostics if d.is_error]
    for d in res.diagnostics:
        render(d, res.sources)                               # must not raise
        json.dumps(d.to_json())
        if d.span is not None:
            problem = _valid_span(d.span, texts)
            assert problem is None, f"{d.code} {d.message!r}: {problem}"
        for lab in d.labels:
            problem = _valid_span(lab.span, texts)
            assert problem is None, f"{d.code} label {lab.text!r}: {problem}"
    if errors:
        assert any(d.span is not None for d in errors), [d.message for d in errors]
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        rc = cli.main(["check", path, "--format", "json"])
    finally:
        sys.stdout, sys.stderr = old
    assert rc in (0, 1), (rc, err.getvalue())
    assert rc == (1 if errors else 0)
    lines = [json.loads(l) for l in out.getvalue().splitlines()]
    assert [o["code"] for o in lines] == [d.code for d in res.diagnostics]
    return {"codes": [d.code for d in res.diagnostics]}
