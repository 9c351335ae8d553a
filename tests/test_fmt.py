"""nndc fmt: the canonical layout is idempotent, keeps every comment, and
never changes the program (the same syntax tree, modulo source positions,
and the same ONNX graph, modulo the doc_strings that hold those positions);
--check and --diff exit codes; unparseable files are left alone."""

from __future__ import annotations

import dataclasses
import glob
import os
import random
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from fuzzing import program
from nnd.cli import main
from nnd.diagnostics import Span
from nnd.fmt import LINE_LENGTH, format_text
from nnd.parser import ParseError, parse

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL = sorted(glob.glob(os.path.join(REPO, "**", "*.nnd"), recursive=True))
ALL = [f for f in ALL if "/.venv/" not in f]
# The files kept formatted; tests/ui is not (its `#   ^ ERROR` annotations point at columns of the line above).
FORMATTED = [f for f in ALL if os.path.relpath(f, REPO).split(os.sep)[0] in ("stdlib", "examples")]


def _read(path):
    with open(path, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _tree(text):
    """The syntax tree without source positions."""
    def strip(x):
        if dataclasses.is_dataclass(x) and not isinstance(x, Span):
            return (type(x).__name__,) + tuple(strip(getattr(x, f.name)) for f in dataclasses.fields(x)
                                               if f.name != "span" and not isinstance(getattr(x, f.name), Span))
        if isinstance(x, (list, tuple)):
            return tuple(strip(i) for i in x)
        return x
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20000))   # tests/ui/limit_nesting.nnd nests 150 deep
    try:
        return repr(strip(parse(text, "f.nnd")))
    finally:
        sys.setrecursionlimit(limit)


def _parses(text):
    try:
        parse(text, "f.nnd")
        return True
    except ParseError:
        return False


@pytest.mark.parametrize("path", ALL, ids=lambda p: os.path.relpath(p, REPO))
def test_idempotent_and_same_tree_over_the_repository(path):
    text = _read(path)
    if text is None or not _parses(text):
        pytest.skip("not UTF-8 or not parseable (a syntax-error UI test)")
    once = format_text(text)
    assert format_text(once) == once
    assert _tree(once) == _tree(text)


@pytest.mark.parametrize("path", FORMATTED, ids=lambda p: os.path.relpath(p, REPO))
def test_repository_files_are_formatted(path):
    assert format_text(_read(path)) == _read(path)


def _graph(text, tmp_path, name="m.nnd"):
    import nnd
    m = nnd.compile(text=text)
    for n in m.graph.node:
        n.doc_string = ""
    m.doc_string = ""
    return m.SerializeToString()


UGLY = """# a model
model   M(width=8,
  act=ReLU){
input x:[N,3]   # an input
      # a full-line comment
  h=x->Linear( width )->act
     ->Linear(width*2+-1)   as fc


  let k=[1,2,3][0]
  if width>4 and not width==5 {
  h=h->Linear(4)
  }else{
  h=h->Linear(4)
  }
  output y=h[:,0:2]->Flatten
}
"""

PRETTY = """# a model
model M(width = 8,
        act = ReLU) {
    input x: [N, 3]  # an input
    # a full-line comment
    h = x -> Linear(width) -> act
        -> Linear(width * 2 + -1) as fc

    let k = [1, 2, 3][0]
    if width > 4 and not width == 5 {
        h = h -> Linear(4)
    } else {
        h = h -> Linear(4)
    }
    output y = h[:, 0:2] -> Flatten
}
"""


def test_canonical_layout_and_same_graph(tmp_path):
    assert format_text(UGLY) == PRETTY
    assert _graph(PRETTY, tmp_path) == _graph(UGLY, tmp_path)


def test_blank_lines_collapse_and_comments_stay():
    text = "\n\n# top\n\n\n\nlet a = 1   # kept here\n\n\n\nlet b = 2\n\n\n# last\n"
    out = format_text(text)
    assert out == "# top\n\n\nlet a = 1   # kept here\n\n\nlet b = 2\n\n\n# last\n"


def test_long_pipelines_break_before_arrows():
    stages = " -> ".join(f"Linear({i + 1})" for i in range(20))
    text = f"model M {{\n    input x: [N, 4]\n    output y = x -> {stages}\n}}\n"
    out = format_text(text)
    lines = out.splitlines()
    assert len(lines) > 4 and all(len(ln) <= LINE_LENGTH for ln in lines)
    assert all(ln.startswith("        -> ") for ln in lines[3:-1])
    assert format_text(out) == out and _tree(out) == _tree(text)


def _uglify(text, rnd):
    """The same tokens with random spacing and indentation (blank-line runs and trailing comments added)."""
    out = []
    for line in text.splitlines():
        words = line.split()
        out.append(" " * rnd.randint(0, 6) + "".join(w + " " * rnd.randint(1, 3) for w in words).rstrip())
        if rnd.random() < 0.2:
            out[-1] += "   # note"
        if rnd.random() < 0.1:
            out += [""] * rnd.randint(1, 3)
    return "\n".join(out) + "\n"


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(program(), st.integers(0, 2**32))
def test_generated_programs_stay_equivalent(tmp_path_factory, text, seed):
    import nnd
    assume(_parses(text))   # the generator writes a wrong program now and then
    ugly = _uglify(text, random.Random(seed))
    out = format_text(ugly)
    assert format_text(out) == out
    assert _tree(out) == _tree(ugly)
    assert out.count("# note") == ugly.count("# note")
    if nnd.check(text=ugly).ok:
        tmp = tmp_path_factory.getbasetemp()
        assert _graph(out, tmp) == _graph(ugly, tmp)


# ------------------------------------------------------------ the command

def test_check_diff_and_rewrite(tmp_path, capsys):
    p = tmp_path / "m.nnd"
    p.write_text(UGLY)
    good = tmp_path / "good.nnd"
    good.write_text(PRETTY)
    assert main(["fmt", "--check", str(good)]) == 0
    assert main(["fmt", "--check", str(p), str(good)]) == 1
    out = capsys.readouterr().out
    assert out == f"would reformat {p}\n"
    assert main(["fmt", "--diff", str(p)]) == 0
    diff = capsys.readouterr().out
    assert "-  h=x->Linear( width )->act\n" in diff and "+    h = x -> Linear(width) -> act\n" in diff
    assert main(["fmt", "--check", "--diff", str(p)]) == 1
    assert p.read_text() == UGLY   # --check and --diff write nothing
    assert main(["fmt", str(p)]) == 0
    assert p.read_text() == PRETTY
    assert main(["fmt", "--check", str(p)]) == 0


def test_syntax_error_is_reported_and_the_file_untouched(tmp_path, capsys):
    p = tmp_path / "bad.nnd"
    p.write_text("model M {\n  input x: [N,3\n}\n")
    before = os.stat(p).st_mtime_ns
    assert main(["fmt", str(p)]) == 1
    err = capsys.readouterr().err
    assert "error[E0001]" in err and "bad.nnd:3:1" in err
    assert p.read_text() == "model M {\n  input x: [N,3\n}\n" and os.stat(p).st_mtime_ns == before


def test_missing_file_is_an_io_error(tmp_path, capsys):
    assert main(["fmt", str(tmp_path / "nope.nnd")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_stdin_to_stdout():
    r = subprocess.run([sys.executable, "-m", "nnd", "fmt", "-"], input=UGLY, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == PRETTY, r.stderr


def test_check_imports_neither_formatter_nor_pygls():
    lenet = os.path.join(REPO, "examples", "lenet5.nnd")
    code = ("import sys; from nnd.cli import main; rc = main(['check', %r]); "
            "print([m for m in ('nnd.fmt', 'nnd.lsp', 'pygls') if m in sys.modules]); sys.exit(rc)") % lenet
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
