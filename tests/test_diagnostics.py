"""The diagnostics catalogue, rendering, output formats, exit codes, the
import sandbox, and the UI-test harness itself."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import pytest

import nnd
from nnd import cli
from nnd.diagnostics import CATALOGUE, Diagnostic, Label, Sources, Span, did_you_mean, render, use_colour
from ui_harness import UI_DIR, AnnotationError, Expected, compare, parse_annotations, ui_files

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable

CLEAN = "model M {\n    input x: [N, 3]\n    output y = x -> Linear(4)\n}\n"
BROKEN = ("model M {\n    input x: [N, 3, 8, 8]\n    a = x -> Conv1d(4, 3)\n"
          "    b = x -> Conv2d(8, 0)\n    output y = a\n    output z = b\n}\n")
WARNED = "model M {\n    input x: [N, 3, 8, 8]\n    output y = x -> Conv2d(4, 3) -> BatchNorm\n}\n"


# ------------------------------------------------------------ catalogue

def _ui_codes() -> set:
    codes = set()
    for name in ui_files():
        with open(os.path.join(UI_DIR, name), "rb") as f:
            expected, _ = parse_annotations(f.read().decode("utf-8", errors="replace"))
        codes.update(e.code for e in expected)
    return codes


def test_every_code_has_a_ui_test():
    missing = sorted(set(CATALOGUE) - _ui_codes())
    assert not missing, f"codes without a UI test in tests/ui: {missing}"


def test_at_least_sixty_ui_tests():
    assert len(ui_files()) >= 60


def test_every_code_is_documented():
    with open(os.path.join(REPO, "docs", "diagnostics.md"), encoding="utf-8") as f:
        doc = f.read()
    documented = set(re.findall(r"^## ([EW]\d{4})$", doc, re.M))
    assert sorted(set(CATALOGUE) - documented) == []
    assert sorted(documented - set(CATALOGUE)) == []


def test_codes_are_well_formed_and_severities_match():
    for code, (severity, title) in CATALOGUE.items():
        assert re.fullmatch(r"[EW]\d{4}", code)
        assert severity == ("error" if code[0] == "E" else "warning")
        assert title and "\n" not in title


def test_unknown_code_is_refused():
    with pytest.raises(KeyError):
        Diagnostic("E9999", "no such code", None)


# ------------------------------------------------------------ did you mean

@pytest.mark.parametrize("name, cands, want", [
    ("Conv2D", ["Conv2d", "Conv1d", "Linear"], "Conv2d"),
    ("imgae", ["image", "x"], "image"),             # a swap is one edit
    ("relu", ["ReLU", "Tanh"], "ReLU"),             # case is ignored
    ("strde", ["stride", "padding"], "stride"),
    ("y", ["M", "x"], None),                         # a one-letter name never matches wholesale
    ("completely", ["Conv2d", "ReLU"], None),
    ("x", ["x"], None),                              # the name itself is no suggestion
])
def test_did_you_mean(name, cands, want):
    assert did_you_mean(name, cands) == want


# ------------------------------------------------------------ rendering

def _render(text, diag, colour=False):
    src = Sources()
    src.add("f.nnd", text)
    return render(diag, src, colour)


def test_render_layout_with_two_labels_on_one_line():
    text = "    output y = (main + skip) -> ReLU\n"
    d = Diagnostic("E0301", "shapes do not match for `+`", Span("f.nnd", 1, 22, 1, 23),
                   [Label(Span("f.nnd", 1, 17, 1, 21), "[N, 256]"), Label(Span("f.nnd", 1, 24, 1, 28), "[N, 64]")],
                   help="project it")
    assert _render(text, d).split("\n") == [
        "error[E0301]: shapes do not match for `+`",
        " --> f.nnd:1:22",
        "  |",
        "1 |     output y = (main + skip) -> ReLU",
        "  |                 ---- ^ ---- [N, 64]",
        "  |                 |",
        "  |                 [N, 256]",
        "  = help: project it",
    ]


def test_render_colour_only_when_asked():
    d = Diagnostic("E0101", "unknown name `q`", Span("f.nnd", 1, 1, 1, 2))
    assert "\x1b[" not in _render("q\n", d, colour=False)
    assert "\x1b[" in _render("q\n", d, colour=True)


def test_colour_needs_a_terminal_and_respects_no_color(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert use_colour(Tty()) is True
    assert use_colour(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_colour(Tty()) is False
    assert use_colour(Tty(), "always") is True
    monkeypatch.delenv("NO_COLOR")
    assert use_colour(Tty(), "never") is False


def test_render_hides_control_characters_of_the_source():
    d = Diagnostic("E0002", "unexpected character", Span("f.nnd", 1, 3, 1, 4))
    out = _render("a \x1b[31m b\n", d)
    assert "\x1b" not in out


def test_render_windows_a_very_long_line():
    line = "x" * 5000 + " @ " + "y" * 5000
    d = Diagnostic("E0002", "unexpected character `@`", Span("f.nnd", 1, 5002, 1, 5003))
    out = _render(line + "\n", d)
    assert max(len(l) for l in out.split("\n")) < 200
    shown, marks = out.split("\n")[3], out.split("\n")[4]
    assert shown[marks.index("^")] == "@"


# ------------------------------------------------------------ formats

def _run_cli(args, text=None, tmp_path=None, name="m.nnd"):
    if text is not None:
        p = tmp_path / name
        p.write_text(text)
        args = [a.replace("{f}", str(p)) for a in args]
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        rc = cli.main(args)
    finally:
        sys.stdout, sys.stderr = old
    return rc, out.getvalue(), err.getvalue()


def test_json_format(tmp_path):
    rc, out, err = _run_cli(["check", "{f}", "--format", "json"], BROKEN, tmp_path)
    assert rc == 1 and err == ""
    objs = [json.loads(l) for l in out.splitlines()]
    assert [o["code"] for o in objs] == ["E0310", "E0107"]
    o = objs[1]
    assert o["severity"] == "error" and o["message"] == "`kernel_size` must be positive; got 0"
    assert (o["line"], o["column"], o["end_line"], o["end_column"]) == (4, 24, 4, 25)
    assert o["file"].endswith("m.nnd") and "help" in o


def test_sarif_format(tmp_path):
    rc, out, _ = _run_cli(["check", "{f}", "--format", "sarif"], BROKEN, tmp_path)
    assert rc == 1
    log = json.loads(out)
    assert log["version"] == "2.1.0" and "sarif-schema-2.1.0" in log["$schema"]
    run, = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(CATALOGUE)
    assert run["columnKind"] == "unicodeCodePoints"
    res = run["results"]
    assert [r["ruleId"] for r in res] == ["E0310", "E0107"]
    for r in res:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["level"] == "error" and r["message"]["text"]
        loc = r["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"].endswith("m.nnd")
        assert loc["region"]["startLine"] >= 1 and loc["region"]["startColumn"] >= 1
    assert res[1]["locations"][0]["physicalLocation"]["region"] == \
        {"startLine": 4, "startColumn": 24, "endLine": 4, "endColumn": 25}


def test_sarif_warning_level_and_related_locations(tmp_path):
    rc, out, _ = _run_cli(["check", "{f}", "--format", "sarif"], WARNED, tmp_path)
    assert rc == 0
    r, = json.loads(out)["runs"][0]["results"]
    assert r["ruleId"] == "W0002" and r["level"] == "warning"
    assert r["relatedLocations"][0]["message"]["text"]


def test_sarif_locates_file_level_errors_at_the_file(tmp_path):
    """E0004 (unreadable file) and E0113 (no such model) have no span; their
    results name the file checked, without a region."""
    missing = tmp_path / "missing.nnd"
    rc, out, _ = _run_cli(["check", str(missing), "--format", "sarif"])
    assert rc == 2
    r, = json.loads(out)["runs"][0]["results"]
    assert r["ruleId"] == "E0004"
    assert r["locations"] == [{"physicalLocation": {"artifactLocation": {"uri": _sarif_uri(missing)}}}]
    rc, out, _ = _run_cli(["check", "{f}", "--model", "Nope", "--format", "sarif"], CLEAN, tmp_path)
    assert rc == 1
    r, = json.loads(out)["runs"][0]["results"]
    assert r["ruleId"] == "E0113"
    assert r["locations"] == [{"physicalLocation": {"artifactLocation": {"uri": _sarif_uri(tmp_path / "m.nnd")}}}]


def _sarif_uri(path) -> str:
    from urllib.parse import quote
    return "file://" + quote(str(path).replace(os.sep, "/"))


# ------------------------------------------------------------ exit codes

def test_exit_codes(tmp_path):
    assert _run_cli(["check", "{f}"], CLEAN, tmp_path)[0] == 0
    rc, _, err = _run_cli(["check", "{f}"], BROKEN, tmp_path)
    assert rc == 1 and "2 errors" in err
    rc, _, err = _run_cli(["check", "{f}"], WARNED, tmp_path)
    assert rc == 0 and "warning[W0002]" in err
    assert _run_cli(["check", "{f}", "--deny-warnings"], WARNED, tmp_path)[0] == 1
    assert _run_cli(["check", str(tmp_path / "missing.nnd")])[0] == 2


def test_internal_error_is_not_a_traceback(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise ValueError("simulated bug")
    monkeypatch.setattr(nnd.api, "check", boom)
    monkeypatch.delenv("NND_BACKTRACE", raising=False)
    rc, _, err = _run_cli(["check", "{f}"], CLEAN, tmp_path)
    assert rc == 3 and "internal compiler error" in err and "Traceback" not in err


@pytest.mark.parametrize("cmd", ["check", "summary"])
def test_internal_error_in_json_and_sarif_is_a_document(tmp_path, monkeypatch, cmd):
    """A crash under a machine format still writes a valid document where
    the diagnostics go: stdout, for every command."""
    def boom(*a, **k):
        raise ValueError("simulated bug")
    monkeypatch.setattr(nnd.api, "check", boom)
    monkeypatch.delenv("NND_BACKTRACE", raising=False)
    rc, out, err = _run_cli([cmd, "{f}", "--format", "json"], CLEAN, tmp_path)
    assert rc == 3 and "internal compiler error" in err
    obj, = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    assert obj["code"] == "internal-error" and obj["severity"] == "error"
    assert obj["message"] == "internal compiler error: ValueError: simulated bug"
    rc, out, err = _run_cli([cmd, "{f}", "--format", "sarif"], CLEAN, tmp_path)
    assert rc == 3
    run, = json.loads(out)["runs"]
    assert run["results"] == []
    inv, = run["invocations"]
    assert inv["executionSuccessful"] is False and inv["exitCode"] == 3
    note, = inv["toolExecutionNotifications"]
    assert note["level"] == "error" and note["message"]["text"] == "internal compiler error: ValueError: simulated bug"


# ------------------------------------------------------------ the check path stays light

def test_check_does_not_import_onnx_numpy_or_networkx():
    code = ("import sys; from nnd import cli; rc = cli.main(['check', 'examples/lenet5.nnd']);"
            "heavy = [m for m in ('onnx', 'onnxruntime', 'numpy', 'networkx', 'torch') if m in sys.modules];"
            "print(rc, heavy)")
    out = subprocess.run([PY, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "0 []", out.stdout + out.stderr


def test_compile_still_builds_the_networkx_graph():
    res = nnd.check(text=CLEAN)
    assert res.ok and not res.ir.built
    assert res.ir.g.number_of_nodes() == 2 and res.ir.built
    n = res.ir.order()[-1]
    assert res.ir.node(n)["kind"] == "Linear" and res.ir.inputs_of(n) == [(0, 0)]


# ------------------------------------------------------------ sandbox

def _codes(res):
    return [d.code for d in res.diagnostics]


def test_imports_stay_inside_the_project(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (tmp_path / "outside.nnd").write_text("block B {\n    input x\n    output y = x\n}\n")
    (proj / "sub").mkdir()
    main = proj / "main.nnd"
    main.write_text('import "../outside.nnd"\n' + CLEAN)
    assert _codes(nnd.check(str(main))) == ["E0112"]
    # `..` that stays inside is fine
    (proj / "sub" / "a.nnd").write_text('import "../lib.nnd"\n' + CLEAN)
    (proj / "lib.nnd").write_text("block B {\n    input x\n    output y = x\n}\n")
    assert _codes(nnd.check(str(proj / "sub" / "a.nnd"))) == ["E0112"]   # the project is sub/
    (proj / "b.nnd").write_text('import "sub/../lib.nnd"\n' + CLEAN)
    assert _codes(nnd.check(str(proj / "b.nnd"))) == []
    # the flag lifts the rule
    assert _codes(nnd.check(str(main), allow_outside=True)) == []


def test_symlink_out_of_the_project_is_refused(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (tmp_path / "secret.nnd").write_text("block B {\n    input x\n    output y = x\n}\n")
    os.symlink(tmp_path / "secret.nnd", proj / "link.nnd")
    (proj / "main.nnd").write_text('import "link.nnd"\n' + CLEAN)
    assert _codes(nnd.check(str(proj / "main.nnd"))) == ["E0112"]


@pytest.mark.parametrize("path, what", [("\\x00.nnd", "a NUL character"),
                                        ("a\\nb.nnd", "the control character U+000A"),
                                        ("\\ud800.nnd", "the lone surrogate U+D800")])
@pytest.mark.parametrize("outside", [False, True])
def test_invalid_import_paths(tmp_path, path, what, outside):
    """Not "outside the project" (nor, with the flag, a crash on the NUL)."""
    (tmp_path / "m.nnd").write_text(f'import "{path}"\n' + CLEAN)
    res = nnd.check(str(tmp_path / "m.nnd"), allow_outside=outside)
    d, = res.diagnostics
    assert d.code == "E0004" and d.message.endswith(f"the path is not valid (it contains {what})")
    assert (d.span.line, d.span.column) == (1, 1)


def test_absolute_imports_and_special_files_are_refused(tmp_path):
    (tmp_path / "main.nnd").write_text('import "/etc/passwd"\n' + CLEAN)
    assert _codes(nnd.check(str(tmp_path / "main.nnd"))) == ["E0112"]
    os.mkfifo(tmp_path / "pipe.nnd")       # opening it would block; it is refused unopened
    (tmp_path / "p.nnd").write_text('import "pipe.nnd"\n' + CLEAN)
    res = nnd.check(str(tmp_path / "p.nnd"))
    assert _codes(res) == ["E0004"] and "not a regular file" in res.diagnostics[0].message


def test_std_import_names_are_identifiers(tmp_path):
    (tmp_path / "m.nnd").write_text("import std.__nothing__\n" + CLEAN)
    assert _codes(nnd.check(str(tmp_path / "m.nnd"))) == ["E0110"]


def test_an_imported_file_with_errors_is_reported_in_that_file(tmp_path):
    (tmp_path / "lib.nnd").write_text("block B {\n    input x\n    output y = x ->\n")
    (tmp_path / "m.nnd").write_text('import "lib.nnd"\n' + CLEAN)
    res = nnd.check(str(tmp_path / "m.nnd"))
    assert _codes(res) == ["E0003"] and res.diagnostics[0].span.file.endswith("lib.nnd")


# ------------------------------------------------------------ the harness

def test_annotation_forms():
    text = ("model M {\n"
            "    a = x\n"
            "#       ^ ERROR E0101 unknown name `x`\n"
            "#~ @5 WARNING W0003\n"
            "#~ @1:1 ERROR E0113\n"
            "#~ @lib.nnd:3:4 ERROR E0001 expected\n"
            "#~ @- ERROR E0004\n"
            "#! model: M\n"
            "#! param: k=3\n")
    exp, opts = parse_annotations(text)
    assert [e.key() for e in exp] == [
        (None, 2, 9, "error", "E0101"), (None, 2, 5, "warning", "W0003"), (None, 1, 1, "error", "E0113"),
        ("lib.nnd", 3, 4, "error", "E0001"), (None, None, None, "error", "E0004")]
    assert exp[0].text == "unknown name `x`"
    assert opts == {"model": "M", "params": {"k": 3}}


def test_a_malformed_annotation_fails():
    with pytest.raises(AnnotationError):
        parse_annotations("x\n#    ^ ERRROR E0101\n# ~ ERROR E0101 here\n")


def test_compare_reports_every_difference():
    d = Diagnostic("E0101", "unknown name `x`", Span("t.nnd", 2, 9, 2, 10))
    ok = Expected(None, 2, 9, "error", "E0101", "unknown name")
    assert compare("t.nnd", [ok], [d]) == []
    wrong_col = Expected(None, 2, 8, "error", "E0101", "")
    wrong_text = Expected(None, 2, 9, "error", "E0101", "no such text")
    assert len(compare("t.nnd", [wrong_col], [d])) == 2          # missing, and unexpected
    assert len(compare("t.nnd", [wrong_text], [d])) == 2
    assert len(compare("t.nnd", [], [d])) == 1
    assert len(compare("t.nnd", [ok, ok], [d])) == 1


def test_no_warnings_inside_the_standard_library():
    assert [d.code for d in nnd.check(text=WARNED).diagnostics] == ["W0002"]
    assert nnd.check(text=WARNED, path="std/fake.nnd").diagnostics == []


def test_byte_order_mark_and_crlf_line_ends(tmp_path):
    p = tmp_path / "w.nnd"
    p.write_bytes(b"\xef\xbb\xbfmodel M {\r\n    input x: [N, 3]\r\n    output y = x -> Linear(3, 4)\r\n}\r\n")
    res = nnd.check(str(p))
    d, = res.diagnostics
    assert (d.code, d.span.line, d.span.column) == ("E0106", 3, 31)
    assert "\r" not in render(d, res.sources)
