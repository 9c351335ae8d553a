"""`nndc summary` and `nnd.summary`: shapes, parameters, MACs, connections,
trainable/frozen totals, memory, receptive fields, --depth and --format json."""

import json
import os
import subprocess
import sys

import pytest

import nnd
from nnd.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESNET50 = os.path.join(ROOT, "examples", "resnet50.nnd")

SMALL = """block Unit(c) {
    input x
    y = x -> Conv2d(c, 3, padding = 1) as conv
    output out = y + x
}
model Small {
    input image: [N, 4, 16, 16]
    a = image -> Conv2d(4, 3, padding = 1, bias = false) as c1
        -> Conv2d(4, 3, stride = 2, padding = 1, bias = false) as c2
        -> MaxPool2d(2) as pool
    b = a -> Unit(4) as u1
    output y = b -> Flatten -> Linear(10) as fc
}
"""


def rows_by_name(data):
    return {r["name"]: r for r in data["rows"]}


def test_rows_hold_shapes_params_macs_connections_and_receptive_fields():
    data = nnd.summary(text=SMALL)
    r = rows_by_name(data)
    assert r["c1"]["output_shape"] == "[N, 4, 16, 16]"
    assert r["c1"]["params"] == 4 * 4 * 9
    assert r["c1"]["macs"] == 4 * 16 * 16 * 4 * 9            # outputs x window
    assert r["c2"]["macs"] == 4 * 8 * 8 * 4 * 9
    assert r["fc"]["macs"] == 10 * 64 and r["fc"]["params"] == 650
    assert r["u1.add_0"]["connected_to"] == ["u1.conv", "pool"]
    assert r["c2"]["connected_to"] == []
    # r = 1 + 2 (c1), + 2 (c2, jump 1 -> 2), + 1 * 2 (pool, jump 2 -> 4), + 2 * 4 (u1.conv)
    assert (r["c1"]["receptive_field"], r["c1"]["stride"]) == ([3, 3], [1, 1])
    assert (r["c2"]["receptive_field"], r["c2"]["stride"]) == ([5, 5], [2, 2])
    assert (r["pool"]["receptive_field"], r["pool"]["stride"]) == ([7, 7], [4, 4])
    assert (r["u1.conv"]["receptive_field"], r["u1.conv"]["stride"]) == ([15, 15], [4, 4])
    assert r["fc"]["receptive_field"] is None
    t = data["totals"]
    assert t["params"] == 144 + 144 + 148 + 650
    assert t["macs"] == sum(x["macs"] for x in data["rows"])
    assert t["param_bytes"] == 4 * t["params"]
    # every layer's output at batch 1, float32: 4x16x16 + 4x8x8 + 3 x 4x4x4 + 64 (flatten) + 10
    assert t["activation_bytes"] == 4 * (1024 + 256 + 3 * 64 + 64 + 10)


def test_trainable_frozen_and_buffer_totals():
    text = SMALL.replace("Unit(4) as u1", "Unit(4, trainable = false) as u1").replace(
        "-> MaxPool2d(2) as pool", "-> BatchNorm as bn -> MaxPool2d(2) as pool")
    t = nnd.summary(text=text)["totals"]
    assert t["frozen"] == 148 and t["buffers"] == 8
    assert t["trainable"] == t["params"] - 148 and t["non_trainable"] == 156


def test_macs_of_matmul_and_attention_match_torch():
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode
    text = """model A {
    input x: [N, 6, 16]
    input w: [16, 5]
    y = x -> MultiheadAttention(16, 4, batch_first = true) as mha
    output z = y @ w
}"""
    r = rows_by_name(nnd.summary(text=text))
    mha = torch.nn.MultiheadAttention(16, 4, batch_first=True).eval()
    x = torch.randn(1, 6, 16)
    with FlopCounterMode(display=False) as fc:
        mha(x, x, x, need_weights=True)   # the plain path: every matmul counted
    assert r["mha"]["macs"] == fc.get_total_flops() // 2
    assert r["matmul_0"]["macs"] == 6 * 5 * 16


def test_depth_collapses_blocks_into_one_row_each():
    data = nnd.summary(RESNET50, depth=2)
    r = rows_by_name(data)
    assert "layer1.0" in r and "layer1.0.conv1" not in r
    assert r["layer1.0"]["kind"] == "block" and r["layer1.0"]["layers"] == 12
    assert r["layer1.0"]["params"] == 4096 + 36864 + 16384 + 16384 + 128 * 2 + 512 * 2
    assert r["layer1.0"]["output_shape"] == "[N, 256, 56, 56]"
    assert sum(x["params"] for x in data["rows"]) == 25_557_032
    assert [x["name"] for x in nnd.summary(RESNET50, depth=1)["rows"]][4:9] == \
        ["maxpool2d_0", "layer1", "layer2", "layer3", "layer4"]


def test_resnet50_totals_match_torch_flop_counter():
    """25,557,032 parameters; MACs as torch's FlopCounterMode counts for
    torchvision's resnet50 at 224 (FLOPs = 2 x MACs for convs and linears)."""
    t = nnd.summary(RESNET50)["totals"]
    assert t["params"] == 25_557_032
    sys.path.insert(0, os.path.dirname(__file__))
    from tv import torchvision
    tv = torchvision()
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    with torch.device("meta"):   # counted without computing: no weights, no data
        model, x = tv.models.resnet50().eval(), torch.empty(1, 3, 224, 224)
    with FlopCounterMode(display=False) as fc:
        model(x)
    assert t["macs"] == fc.get_total_flops() // 2
    assert 4.08e9 < t["macs"] < 4.10e9


def test_cli_json_is_the_python_api_data(capsys):
    assert main(["summary", RESNET50, "--format", "json", "--depth", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == json.loads(json.dumps(nnd.summary(RESNET50, depth=2)))
    assert data["totals"]["params"] == 25_557_032


def test_cli_text_table_shows_macs_and_memory(capsys):
    assert main(["summary", RESNET50]) == 0
    out = capsys.readouterr().out
    assert "MACs: 4.09 G (batch 1)" in out
    assert "25,557,032 parameters" in out
    assert "layer1.0.bn3, layer1.0.downsample.1" in out      # the Add's inputs
    assert "427x427 / 32x32" in out                          # ResNet-50's last receptive field


def test_summary_refuses_an_onnx_file_and_a_bad_depth(tmp_path, capsys):
    f = tmp_path / "m.onnx"
    f.write_bytes(b"\x08\x0a\x12\x04nndc")
    assert main(["summary", str(f)]) == 2
    err = capsys.readouterr().err
    assert "reads a .nnd source" in err and "is an ONNX model" in err
    with pytest.raises(SystemExit) as e:
        main(["summary", RESNET50, "--depth", "0"])
    assert e.value.code == 2


def test_check_and_compile_do_not_import_summary_or_graph(tmp_path):
    code = ("import sys; from nnd.cli import main; main(['check', %r]); "
            "main(['compile', %r, '-o', %r]); "
            "print([m for m in ('nnd.model_summary', 'nnd.graph') if m in sys.modules])"
            ) % (RESNET50, RESNET50, str(tmp_path / "r.onnx"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().endswith("[]"), r.stdout + r.stderr
