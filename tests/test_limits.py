"""Limits: inputs built to hang the compiler, exhaust its stack or its memory
get a clear diagnostic, quickly."""

from __future__ import annotations

import time

import pytest

import nnd

HEAD = "model M {\n    input x: [N, 3]\n"
TAIL = "    output y = x\n}\n"


def _check(text, seconds=5.0):
    # CPU time, not wall time: the bound is on the work a check does (a
    # runaway is many times over it), not on how busy the machine is.
    t = time.process_time()
    res = nnd.check(text=text)
    took = time.process_time() - t
    assert took < seconds, f"took {took:.1f} s of CPU time"
    return [d.code for d in res.diagnostics], res


@pytest.mark.parametrize("expr", [
    "(" * 10_000 + "1" + ")" * 10_000,
    "[" * 10_000 + "1" + "]" * 10_000,
    "-" * 10_000 + "1",
    "not " * 10_000 + "true",
    " + ".join(["1"] * 10_000),
    "x" + ".rank" * 5_000,
    "len" + "([1])" * 2_000,
])
def test_deep_expressions(expr):
    codes, _ = _check(HEAD + f"    let a = {expr}\n" + TAIL)
    assert codes in ([], ["E0119"]) or codes[0] in ("E0117", "E0119"), codes


@pytest.mark.parametrize("open_, close", [("(", ")"), ("[", "]")])
def test_brackets_past_the_nesting_limit(open_, close):
    """100,000 nested brackets are refused before lark parses them (7 million
    once took 90 s and 2 GB), at the first bracket past the limit."""
    from nnd.parser import MAX_NESTING
    codes, res = _check(HEAD + "    let a = " + open_ * 100_000 + "1" + close * 100_000 + "\n" + TAIL, seconds=1.0)
    assert codes == ["E0119"]
    d = res.diagnostics[0]
    assert d.message == f"brackets nest more than {MAX_NESTING} deep"
    # The body's `{` is level 1, so the bracket at level MAX_NESTING + 1 is the MAX_NESTING-th here.
    col = len("    let a = ") + MAX_NESTING
    assert (d.span.line, d.span.column, d.span.end_line, d.span.end_column) == (3, col, 3, col + 1)


def test_brackets_up_to_the_nesting_limit():
    from nnd.parser import MAX_NESTING
    n = MAX_NESTING - 1   # and the body's `{`
    codes, _ = _check(HEAD + "    let a = " + "(" * n + "1" + ")" * n + "\n" + TAIL)
    assert codes == []
    codes, _ = _check(HEAD + "    let a = " + "(" * (n + 1) + "1" + ")" * (n + 1) + "\n" + TAIL)
    assert codes == ["E0119"]


def test_brackets_in_strings_and_comments_do_not_nest():
    text = HEAD + "    let a = \"" + "(" * 1000 + "\"  # " + "[" * 1000 + "\n" + TAIL
    codes, _ = _check(text)
    assert codes == []


def test_long_else_if_chain():
    chain = "    if false {\n    }" + " else if false {\n    }" * 2_000 + "\n"
    codes, res = _check(HEAD + chain + TAIL)
    assert codes == ["E0119"] and "nests too deeply" in res.diagnostics[0].message


def test_unclosed_brackets_at_scale():
    codes, _ = _check(HEAD + "    let a = " + "(" * 50_000 + "\n" + TAIL)
    assert codes == ["E0119"]   # the nesting limit, before the missing `)`
    codes, _ = _check(HEAD + "    let a = " + "(" * 100 + "\n" + TAIL)
    assert codes and codes[0] in ("E0001", "E0003")


def test_recursive_blocks_that_branch():
    # Each level instantiates itself twice; without stopping at the first
    # failure this is 2^64 instances.
    text = ("block T(n) {\n    input x\n    a = x -> T(n) * 2\n    output y = x\n}\n"
            "model M {\n    input x: [N, 3]\n    output y = x -> T(1)\n}\n")
    codes, res = _check(text)
    assert codes == ["E0114"]


def test_legitimate_recursion_is_allowed():
    text = ("block U(d) {\n    input x\n    if d > 0 {\n        output y = x -> ReLU -> U(d - 1)\n"
            "    } else {\n        output y = x\n    }\n}\n"
            "model M {\n    input x: [N, 3]\n    output y = x -> U(40)\n}\n")
    codes, res = _check(text)
    assert codes == [] and res.ir.layer_count() == 40


def test_nested_loops_hit_the_step_limit():
    text = HEAD + "    for i in 0..100000 {\n        for j in 0..100000 {\n            let k = i\n        }\n    }\n" + TAIL
    codes, _ = _check(text)
    assert codes == ["E0119"]


def test_repetition_of_an_identity_block():
    text = ("block I {\n    input x\n    output y = x\n}\n"
            "model M {\n    input x: [N, 3]\n    output y = x -> (I * 100000) * 100000\n}\n")
    codes, _ = _check(text)
    assert codes == ["E0119"]


def test_too_many_layers():
    codes, res = _check(HEAD + "    y = x -> (ReLU * 1000) * 1000\n    output z = y\n}\n")
    assert codes == ["E0119"] and "layers" in res.diagnostics[0].message


@pytest.mark.parametrize("body, what", [
    ("    let l = [1]\n    for i in 0..100 {\n        let l = l + l\n    }\n", "sequence"),
    ("    let l = [1] * 1000000000000\n", "sequence"),
    ("    let l = 2\n    for i in 0..100 {\n        let l = l * l\n    }\n", "overflow"),
    ("    let l = x.shape[0]\n    for i in 0..100 {\n        let l = l * l + l\n    }\n", "too complex"),
    ("    let s = \"ab\"\n    for i in 0..100 {\n        let s = s + s\n    }\n", "sequence"),
])
def test_values_cannot_grow_without_bound(body, what):
    codes, res = _check(HEAD + body + TAIL)
    assert len(codes) == 1 and codes[0] in ("E0119", "E0123") and what in res.diagnostics[0].message


def test_absurd_sizes_are_refused_before_allocation():
    codes, res = _check("model M {\n    input x: [N, 4096]\n    output y = x -> Linear(1000000000)\n}\n")
    assert codes == ["E0119"] and "TiB" in res.diagnostics[0].message
    codes, res = _check("model M {\n    input x: [N, 3, 99999999, 99999999]\n    output y = x\n}\n")
    assert codes == ["E0119"] and "N = 1" in res.diagnostics[0].message


@pytest.mark.parametrize("call", ["x -> Split(1000000000)", "split(x, 1000000000)"])
def test_split_into_absurdly_many_parts(call):
    """Refused when written: a shape error used to make one placeholder per
    part (40 s and 4 GB, then MemoryError)."""
    codes, res = _check(HEAD + f"    t = {call}\n" + TAIL, seconds=2.0)
    assert codes == ["E0119"]
    d = res.diagnostics[0]
    assert d.message == "cannot split into 1,000,000,000 parts; the limit is 50,000"
    assert d.span.column == len("    t = " + call) - len("1000000000)") + 1


def test_huge_literals():
    codes, _ = _check(HEAD + "    let a = " + "9" * 100_000 + "\n" + TAIL)
    assert codes == ["E0123"]
    codes, _ = _check(HEAD + "    let a = 1e999999\n" + TAIL)
    assert codes == ["E0123"]


def test_grammar_cache_is_optional(tmp_path, monkeypatch):
    """An unusable cache directory only makes parsing slower."""
    import subprocess
    import sys
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    code = "import nnd; print(nnd.check(text='model M {\\n input x: [N, 3]\\n output y = x\\n}\\n').ok)"
    for env in ({"XDG_CACHE_HOME": str(blocked)}, {"NND_CACHE_DIR": "off"}):
        import os
        out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, **env), capture_output=True,
                             text=True, timeout=120)
        assert out.stdout.strip() == "True", out.stderr


BUILTIN_ARGS = ["", "x", "x, x, x", "1", "1, 2", "[]", "[1, 2]", '"a"', "inf", "true", "x, 2", "x, 0",
                "x, -1", "x, []", "x, [3]", "x, 1.5", "x, 2, 3", "dim = 1", "x, dim = 1", "x, x, axis = 9", "[x, x]"]


@pytest.mark.parametrize("f", ["concat", "add", "subtract", "multiply", "split", "len", "min", "max", "int"])
def test_builtins_report_bad_calls_and_never_raise(f):
    """Every built-in function, given nothing, too much or the wrong types, in a
    model or in a top-level `let` (where there is no graph): a located
    diagnostic or a value, never an exception."""
    for args in BUILTIN_ARGS:
        for text in (HEAD + f"    let g = {f}({args})\n" + TAIL,
                     HEAD + f"    g = {f}({args})\n" + TAIL,
                     f"let g = {f}({args})\n" + HEAD + TAIL):
            _, res = _check(text)
            assert all(d.span is not None for d in res.diagnostics), (text, res.diagnostics)


def test_concat_of_nothing_is_a_tensor_count_error():
    for text in (HEAD + "    let g = concat()\n" + TAIL, "let g = concat()\n" + HEAD + TAIL):
        codes, res = _check(text)
        assert codes == ["E0115"] and res.diagnostics[0].message == "`concat` needs at least one tensor; got 0"
        assert res.diagnostics[0].span.line in (1, 3)
    codes, _ = _check(HEAD + "    output z = concat(x)\n" + TAIL)
    assert codes == []


@pytest.mark.parametrize("line, want, what", [
    ("    a = split(x, 1000000000)\n", ["E0119"], "cannot split into 1,000,000,000 parts; the limit is 50,000"),
    ("    a = x -> Split(1000000000)\n", ["E0119"], "cannot split into 1,000,000,000 parts; the limit is 50,000"),
    ("    a = w -> Split(100000)\n", ["E0119"], "cannot split into 100,000 parts; the limit is 50,000"),
    ("    a = split(w, [1] * 100000)\n", ["E0119"], "cannot split into 100,000 parts; the limit is 50,000"),
    ("    a = w -> Split(3)\n", ["E0311"], "cannot split dimension 1 of size 100000 into 3 equal parts"),
    ("    a = x -> Linear(3) -> Conv2d(3, 3) -> Split(1000000000)\n", ["E0310", "E0119"], "Conv2d"),
])
def test_split_counts_are_checked_before_allocation(line, want, what):
    """A part count is held against the limit on a split's outputs when the
    split is written, then against the dimension; a split that fails stands
    as one unknown tensor (once these made a billion of them: 40 s, 4 GB,
    MemoryError)."""
    codes, res = _check(HEAD + "    input w: [N, 100000]\n" + line + "    output v = w\n" + TAIL, seconds=3.0)
    assert codes == want and what in res.diagnostics[0].message, res.diagnostics


def test_a_split_at_the_limit_is_made():
    codes, res = _check(HEAD + "    input w: [N, 50000]\n    a = split(w, 50000)\n"
                        "    output v = a[49999]\n" + TAIL, seconds=10.0)
    assert codes == [] and res.ir.node_count() == 3


def _elaboration_time(n_outputs: int) -> float:
    text = HEAD + "".join(f"    output y{i} = x\n" for i in range(n_outputs)) + "}\n"
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        res = nnd.check(text=text)
        best = min(best, time.perf_counter() - t)
        assert res.ok and len(res.ir.outputs) == n_outputs
    return best


def test_outputs_are_declared_in_linear_time():
    """Each `output` once searched the ones before it: 60,000 took over a
    minute. Ten times the outputs must take about ten times as long (the
    quadratic search made it over 40)."""
    small, large = _elaboration_time(2_000), _elaboration_time(20_000)
    assert large < 25 * small + 0.5, (small, large)


def test_symbolic_sizes_count_toward_the_tensor_limit():
    """Every symbol is at least 1, so [N, 3, H + 2e9, W + 2e9] holds at least
    3 * (1 + 2e9)^2 values; before, the symbolic sizes were skipped and
    onnxruntime overflowed."""
    text = "model M {\n    input x: [N, 3, H, W]\n    output y = x -> Pad(%s)\n}\n"
    codes, res = _check(text % "1000000000")
    assert codes == ["E0119"] and res.diagnostics[0].message.startswith(
        "`Pad` would make a tensor of shape [N, 3, H + 2000000000, W + 2000000000], which needs ")
    assert "even with N = 1, H = 1, W = 1; the limit is 64.0 GiB" in res.diagnostics[0].message
    codes, _ = _check(text % "100000")     # 3 * 200001^2 floats: 447 GiB
    assert codes == ["E0119"]
    codes, _ = _check(text % "20000")      # 3 * 40001^2 floats: 17.9 GiB
    assert codes == []


def test_a_loop_over_a_long_expression_reaches_the_step_limit_as_soon():
    """A statement costs a step per node of its expression (the fuzzer found
    100,000 x 100,000 loops around a chain of 150 `-` that ran for minutes
    under a per-statement count)."""
    minus = "- " * 150
    text = (HEAD + "    for i in 0..100000 {\n        for j in 0..100000 {\n"
            f"            let k = i {minus}+ j\n        }}\n    }}\n" + TAIL)
    codes, res = _check(text, seconds=5.0)
    assert codes == ["E0119"] and "steps" in res.diagnostics[0].message
