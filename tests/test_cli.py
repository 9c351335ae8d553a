"""nndc's command line: exit codes, outputs, atomic writes, determinism."""

import hashlib
import os
import subprocess
import sys

import pytest

from nnd.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENET = os.path.join(ROOT, "examples", "lenet5.nnd")
BROKEN = "model M {\n    input x: [N, 3, 8, 8]\n    output y = x -> Conv1d(4, 3)\n}\n"


def test_compile_writes_a_checked_model(tmp_path, capsys):
    import onnx
    out = tmp_path / "lenet.onnx"
    assert main(["compile", LENET, "-o", str(out)]) == 0
    m = onnx.load(str(out))
    onnx.checker.check_model(m, full_check=True)
    assert [i.name for i in m.graph.input] == ["image"]
    assert [o.name for o in m.graph.output] == ["probs"]
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert any(i.name == "conv1.weight" for i in m.graph.initializer)
    assert all(n.doc_string.startswith("lenet5.nnd:") for n in m.graph.node)   # relative to its directory
    assert f"wrote {out}" in capsys.readouterr().out


def test_compile_is_deterministic_and_seeded(tmp_path):
    digests = []
    for i, seed in enumerate((0, 0, 1)):
        out = tmp_path / f"m{i}.onnx"
        assert main(["compile", LENET, "-o", str(out), "--seed", str(seed)]) == 0
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert digests[0] == digests[1] != digests[2]


def test_errors_exit_1_and_write_nothing(tmp_path, capsys):
    src = tmp_path / "broken.nnd"
    src.write_text(BROKEN)
    out = tmp_path / "broken.onnx"
    assert main(["compile", str(src), "-o", str(out)]) == 1
    assert not out.exists()
    assert os.listdir(tmp_path) == ["broken.nnd"]   # no temporary file left behind
    err = capsys.readouterr().err
    assert "error[E0310]" in err and f"{src}:3:21" in err and "`Conv1d` expects [N, C, W]" in err
    assert main(["check", str(src)]) == 1


def test_existing_output_survives_a_failed_compile(tmp_path):
    src = tmp_path / "broken.nnd"
    src.write_text(BROKEN)
    out = tmp_path / "keep.onnx"
    out.write_bytes(b"previous")
    assert main(["compile", str(src), "-o", str(out)]) == 1
    assert out.read_bytes() == b"previous"


def test_usage_and_io_errors_exit_2(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["compile"])
    assert e.value.code == 2
    assert main(["check", str(tmp_path / "nope.nnd")]) == 2
    assert main(["compile", LENET, "-o", str(tmp_path / "no" / "such" / "dir.onnx")]) == 2


def test_check_ok_and_json(tmp_path, capsys):
    assert main(["check", LENET]) == 0
    src = tmp_path / "broken.nnd"
    src.write_text(BROKEN)
    capsys.readouterr()
    assert main(["check", "--format", "json", str(src)]) == 1
    import json
    (d,) = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert (d["code"], d["line"], d["column"], d["end_column"]) == ("E0310", 3, 21, 33)


def test_summary_counts_parameters(capsys):
    assert main(["summary", LENET]) == 0
    out = capsys.readouterr().out
    assert "conv1  " in out and "[N, 6, 28, 28]" in out
    assert "61,706 parameters" in out


def test_summary_of_a_layer_with_many_outputs_stays_short(tmp_path, capsys):
    # 300 equal parts: one line giving their count and type; parts that
    # differ: the first few and how many more.
    f = tmp_path / "m.nnd"
    f.write_text("model M {\n    input x: [N, 300, 8]\n    parts = split(x, 300)\n"
                 "    a, b, c, d, e = split(x, [1, 1, 1, 1, 296])\n"
                 "    output y = concat(parts) + a + b\n    output z = concat(c, d, e)\n}\n")
    assert main(["summary", str(f)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("split_")}
    assert set(rows) == {"split_0", "split_1"}
    assert rows["split_0"].split("Split", 1)[1].split()[:5] == ["300", "outputs:", "[N,", "1,", "8]"]
    assert "each" in rows["split_0"] and rows["split_0"].count("[N,") == 1
    assert "[N, 1, 8], [N, 1, 8], [N, 1, 8], ... (2 more)" in rows["split_1"]
    assert max(len(line) for line in rows.values()) < 120


def test_python_dash_m_and_console_script():
    r = subprocess.run([sys.executable, "-m", "nnd", "check", LENET], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_check_does_not_import_onnx_or_onnxruntime():
    code = ("import sys; from nnd.cli import main; rc = main(['check', %r]); "
            "bad = [m for m in ('onnx', 'onnxruntime') if m in sys.modules]; "
            "print(bad); sys.exit(rc)") % LENET
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
