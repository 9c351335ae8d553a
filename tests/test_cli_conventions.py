"""nndc's conventions: install markers, --version, usage, streams, stdin,
-p expressions, reproducible bytes, round trips and `nndc explain`."""

import io
import json
import os
import subprocess
import sys
import tomllib

import pytest

from nnd.cli import main
from nnd.cli_parser import build_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENET = os.path.join(ROOT, "examples", "lenet5.nnd")
RESNET = os.path.join(ROOT, "examples", "resnet50.nnd")
ACT = "model M(act = ReLU, width = 8) {\n    input x: [N, 4]\n    output y = x -> Linear(width) -> act\n}\n"
BN = ("model B {\n    input x: [N, 3, 8, 8]\n"
      "    output y = x -> Conv2d(4, 3, bias = false) -> BatchNorm -> ReLU\n}\n")
WARNS = ("model W {\n    input x: [N, 3, 8, 8]\n"
         "    output y = x -> Conv2d(8, 3, padding = 1) -> BatchNorm -> ReLU\n}\n")


def _nndc(*args, cwd=None, **kw):
    return subprocess.run([sys.executable, "-m", "nnd", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, **kw)


# ---------------------------------------------------------------- 1. install

@pytest.mark.parametrize("plat, machine, want", [
    ("linux", "x86_64", "onnxruntime-gpu"), ("win32", "AMD64", "onnxruntime-gpu"),
    ("darwin", "arm64", "onnxruntime"), ("darwin", "x86_64", "onnxruntime"),
    ("linux", "aarch64", "onnxruntime"), ("win32", "ARM64", "onnxruntime")])
def test_exactly_one_onnxruntime_per_platform(plat, machine, want):
    from packaging.requirements import Requirement
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        deps = [Requirement(d) for d in tomllib.load(f)["project"]["dependencies"]]
    env = {"sys_platform": plat, "platform_machine": machine, "python_version": "3.12",
           "python_full_version": "3.12.0", "os_name": "nt" if plat == "win32" else "posix",
           "platform_system": {"linux": "Linux", "win32": "Windows", "darwin": "Darwin"}[plat]}
    chosen = [d.name for d in deps if d.name.startswith("onnxruntime") and (d.marker is None or d.marker.evaluate(env))]
    assert chosen == [want]


def _dist():
    from importlib.metadata import packages_distributions, version
    d = sorted(packages_distributions()["onnxruntime"])[0]
    return f"{d} {version(d)}"


def test_version_and_run_v_name_the_onnxruntime_build(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("nndc ") and _dist() in out and "CPUExecutionProvider" in out
    assert main(["run", LENET, "-v", "--no-cache", "--device", "cpu"]) == 0
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("runtime"))
    assert _dist() in line and "providers: " in line


# ---------------------------------------------------------------- 2. streams

@pytest.mark.parametrize("cmd", [["summary", RESNET], ["run", LENET, "--no-cache"]])
def test_a_closed_pipe_ends_quietly_with_141(cmd):
    r, w = os.pipe()
    os.close(r)   # the reader went away before the first line: every write fails with EPIPE
    try:
        p = subprocess.run([sys.executable, "-m", "nnd", *cmd], stdout=w, stderr=subprocess.PIPE,
                           text=True, timeout=120)
    finally:
        os.close(w)
    assert p.returncode == 141, p.stderr
    assert p.stderr == ""


def test_compile_json_puts_warnings_on_stdout(tmp_path):
    (tmp_path / "w.nnd").write_text(WARNS)
    p = _nndc("compile", "w.nnd", "-o", "w.onnx", "--format", "json", cwd=tmp_path)
    assert p.returncode == 0
    docs = [json.loads(line) for line in p.stdout.splitlines()]
    assert [d["code"] for d in docs] == ["W0002"] and docs[0]["line"] == 3
    assert "wrote w.onnx" in p.stderr and "W0002" not in p.stderr
    p = _nndc("compile", "w.nnd", "-o", "w2.onnx", "--format", "sarif", cwd=tmp_path)
    assert [r["ruleId"] for r in json.loads(p.stdout)["runs"][0]["results"]] == ["W0002"]


# ---------------------------------------------------------------- 3. conventions

def test_bare_nndc_lists_the_commands_and_exits_2(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "required" not in err and all(c in err for c in ("compile", "check", "summary", "explain"))


def test_a_misspelt_command_gets_a_suggestion(capsys):
    with pytest.raises(SystemExit) as e:
        main(["compil", LENET])
    assert e.value.code == 2
    assert "did you mean `compile`?" in capsys.readouterr().err


def test_help_has_descriptions_and_examples():
    sub = build_parser()._subparsers._group_actions[0].choices
    for name, p in sub.items():
        text = p.format_help()
        assert p.description and "examples:\n  nndc " + name in text, name


def test_format_and_color_everywhere_json_a_hidden_alias():
    ap = build_parser()
    assert ap.parse_args(["bench", "m.onnx", "--json"]).format == "json"
    assert ap.parse_args(["bench", "m.onnx", "--format", "json"]).format == "json"
    bench = ap._subparsers._group_actions[0].choices["bench"]
    assert "--json" not in bench.format_help() and "--format" in bench.format_help()
    for cmd in ("compile", "check", "summary", "run", "bench", "train"):
        extra = ["-d", "x.npz"] if cmd == "train" else []
        assert ap.parse_args([cmd, "m.nnd", "--color", "never", *extra]).color == "never"


def test_check_and_compile_read_stdin(tmp_path, monkeypatch, capsys):
    (tmp_path / "lib.nnd").write_text("block Head(n) {\n    input x\n    output y = x -> Linear(n)\n}\n")
    monkeypatch.chdir(tmp_path)   # imports from stdin resolve from the current directory
    src = 'import "lib.nnd"\nmodel M {\n    input x: [N, 4]\n    output y = x -> Head(3)\n}\n'
    monkeypatch.setattr(sys, "stdin", io.StringIO(src))
    assert main(["check", "-"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(src))
    assert main(["compile", "-", "-o", "out.onnx"]) == 0
    assert (tmp_path / "out.onnx").exists()
    monkeypatch.setattr(sys, "stdin", io.StringIO(src.replace("Head(3)", "Conv1d(4, 3)")))
    assert main(["check", "-"]) == 1
    assert "<stdin>:4:" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO(src))
    assert main(["compile", "-"]) == 2
    assert "needs -o" in capsys.readouterr().err


def test_p_values_are_nnd_expressions(tmp_path, capsys):
    f = tmp_path / "m.nnd"
    f.write_text(ACT)
    assert main(["summary", str(f), "-p", "act=ReLU6", "-p", "width=2 * 16"]) == 0
    out = capsys.readouterr().out
    assert "ReLU6" in out and "[N, 32]" in out
    assert main(["summary", str(f), "-p", "act=Nope"]) == 1
    err = capsys.readouterr().err
    assert "-p act=Nope: unknown layer or block `Nope`" in err and "-->" not in err
    assert main(["summary", str(f), "-p", "widht=3"]) == 1
    err = capsys.readouterr().err
    assert "-p widht=3: model `M` has no parameter `widht`" in err and "-->" not in err
    with pytest.raises(SystemExit) as e:
        main(["summary", str(f), "-p", "width=("])
    assert e.value.code == 2 and "-p width=(: not an nnd expression" in capsys.readouterr().err


# ---------------------------------------------------------------- 4. reproducible bytes

def test_the_path_as_typed_does_not_change_the_bytes(tmp_path, monkeypatch):
    d = tmp_path / "dir"
    d.mkdir()
    (d / "m.nnd").write_text(BN)
    monkeypatch.chdir(d)
    outs = []
    for i, spelling in enumerate(["m.nnd", "./m.nnd", str(d / "m.nnd"), "../dir/m.nnd"]):
        out = tmp_path / f"o{i}.onnx"
        assert main(["compile", spelling, "-o", str(out)]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2] == outs[3]


# ---------------------------------------------------------------- 5. round trip

def test_nndc_onnx_binds_at_O0_and_is_refused_at_O1(tmp_path, capsys):
    import onnx
    (tmp_path / "b.nnd").write_text(BN)
    src = str(tmp_path / "b.nnd")
    o1, o0 = str(tmp_path / "o1.onnx"), str(tmp_path / "o0.onnx")
    assert main(["compile", src, "-o", o1]) == 0
    assert main(["compile", src, "-o", o0, "-O0", "--seed", "3"]) == 0
    capsys.readouterr()
    for extra in ([], ["--partial"]):
        assert main(["compile", src, "-o", str(tmp_path / "r.onnx"), "--weights", o1, *extra]) == 1
        err = capsys.readouterr().err
        assert "fold BatchNorm" in err and "-O0" in err
    back = str(tmp_path / "back.onnx")
    assert main(["compile", src, "-o", back, "-O0", "--weights", o0]) == 0   # strict: every parameter
    a, b = onnx.load(o0), onnx.load(back)
    assert {t.name: t.raw_data for t in a.graph.initializer} == {t.name: t.raw_data for t in b.graph.initializer}


# ---------------------------------------------------------------- 6. explain

def test_explain_prints_the_catalogue_text_from_anywhere(tmp_path):
    p = _nndc("explain", "e0301", cwd=tmp_path)
    assert p.returncode == 0
    assert p.stdout.startswith("E0301 (error): shapes do not match") and "1x1 projection" in p.stdout
    p = _nndc("explain", "E0399", cwd=tmp_path)
    assert p.returncode == 2 and "no diagnostic code `E0399`" in p.stderr


def test_every_code_is_explained_and_sarif_rules_carry_it():
    from nnd.catalogue_text import explanation
    from nnd.diagnostics import CATALOGUE
    from nnd.sarif import rules
    assert [c for c in CATALOGUE if not explanation(c)] == []
    r = {x["id"]: x for x in rules()}["E0301"]
    assert r["fullDescription"]["text"] == explanation("E0301") == r["help"]["text"]
    assert "docs/diagnostics.md" not in json.dumps(rules())
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:   # an installed package has the text too
        tool = tomllib.load(f)["tool"]["setuptools"]
    assert "nnd.docs" in tool["packages"] and "diagnostics.md" in tool["package-data"]["nnd.docs"]
