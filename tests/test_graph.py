"""`nndc graph`: DOT with blocks as clusters, layer boxes with kind and
parameters, edges labelled with shapes, --depth collapsing; svg/png/html
through Graphviz when it is installed."""

import os
import shutil
import subprocess
import sys

import pytest

import nnd
from nnd.cli import main
from nnd.graph import to_dot

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESNET50 = os.path.join(ROOT, "examples", "resnet50.nnd")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def dot_of(argv, capsys):
    assert main(["graph", RESNET50] + argv) == 0
    return capsys.readouterr().out


def test_dot_has_block_clusters_layer_boxes_and_shaped_edges(capsys):
    out = dot_of([], capsys)
    ir = nnd.check(RESNET50).ir
    ids = {d["name"]: f'"n{n}"' for n, d in ir.nodes()}
    assert out.startswith('digraph "ResNet50" {')
    assert 'subgraph "cluster_layer1" {' in out and 'subgraph "cluster_layer1.0" {' in out
    assert 'subgraph "cluster_layer1.0.downsample" {' in out
    # a layer box in its cluster: short name, kind, parameters
    assert f'{ids["layer1.0.conv1"]} [label="conv1\\nConv2d\\n4,096 params"];' in out
    assert f'{ids["image"]} [label="image\\nInput", shape=ellipse' in out
    # edges carry the producer's output shape
    assert f'{ids["layer1.0.conv3"]} -> {ids["layer1.0.bn3"]} [label=" [N, 256, 56, 56]"];' in out
    assert f'{ids["layer1.0.bn3"]} -> {ids["layer1.0.add_0"]}' in out
    assert f'{ids["layer1.0.downsample.1"]} -> {ids["layer1.0.add_0"]}' in out
    assert f'{ids["fc"]} -> "out0" [label=" [N, 1000]"];' in out
    # the cluster nests: layer1.0's box lines come after layer1's header and before its end
    start = out.index('subgraph "cluster_layer1.0" {')
    assert out.index(ids["layer1.0.conv1"] + " [") > start


def test_depth_collapses_each_block_instance_into_one_box(capsys):
    out = dot_of(["--depth", "2"], capsys)
    assert '"b:layer1.0" [label="layer1.0\\nblock, 12 layers\\n75,008 params"' in out
    assert 'cluster_layer1.0"' not in out and "conv1\\nConv2d\\n4,096" not in out
    assert 'subgraph "cluster_layer1" {' in out
    assert '"b:layer1.0" -> "b:layer1.1" [label=" [N, 256, 56, 56]"];' in out
    assert '"b:layer1.2" -> "b:layer2.0" [label=" [N, 256, 56, 56]"];' in out
    assert out.count('-> "b:layer1.1"') == 1      # one edge per tensor, none inside a box
    top = dot_of(["--depth", "1"], capsys)
    assert '"b:layer3" [label="layer3\\nblock, 62 layers\\n7,098,368 params"' in top
    assert "cluster_" not in top


def test_dot_is_deterministic_and_needs_no_onnx(tmp_path):
    code = ("import sys; from nnd.cli import main; rc = main(['graph', %r, '-o', %r]); "
            "print([m for m in ('onnx', 'onnxruntime', 'numpy') if m in sys.modules]); sys.exit(rc)")
    outs = []
    for i in range(2):
        path = tmp_path / f"g{i}.dot"
        r = subprocess.run([sys.executable, "-c", code % (RESNET50, str(path))], capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout.strip().endswith("[]"), r.stdout + r.stderr
        outs.append(path.read_bytes())
    assert outs[0] == outs[1] and outs[0].startswith(b"digraph")


def test_without_dot_svg_is_refused_with_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["graph", RESNET50, "-o", str(tmp_path / "g.svg")]) == 2
    err = capsys.readouterr().err
    assert "apt install graphviz" in err and "brew install graphviz" in err
    assert not (tmp_path / "g.svg").exists()
    assert main(["graph", RESNET50, "-o", str(tmp_path / "g.dot")]) == 0   # DOT needs nothing


def test_bad_extension_and_onnx_input_are_usage_errors(tmp_path, capsys):
    assert main(["graph", RESNET50, "-o", str(tmp_path / "g.pdfx")]) == 2
    assert "name it .dot, .svg, .png or .html" in capsys.readouterr().err
    f = tmp_path / "m.onnx"
    f.write_bytes(b"\x08\x0a")
    assert main(["graph", str(f)]) == 2
    assert "is an ONNX model" in capsys.readouterr().err


@needs_dot
def test_svg_png_and_html_through_graphviz(tmp_path, capsys):
    for ext in ("svg", "png", "html"):
        assert main(["graph", RESNET50, "--depth", "2", "-o", str(tmp_path / f"g.{ext}")]) == 0
    svg = (tmp_path / "g.svg").read_text()
    assert "<svg" in svg and "layer1.0" in svg and "[N, 256, 56, 56]" in svg
    assert (tmp_path / "g.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    page = (tmp_path / "g.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<script" not in page
    assert "http://" not in page.split("<svg", 1)[0]      # self-contained: nothing fetched


def test_to_dot_python_api_matches_the_command(capsys):
    assert to_dot(nnd.check(RESNET50).ir, 2) == dot_of(["--depth", "2"], capsys)
