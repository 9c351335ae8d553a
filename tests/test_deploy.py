"""`nndc bench --compare A B` and `nndc export FILE --triton REPO/`."""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import onnx
import pytest

from nnd.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENET = os.path.join(ROOT, "examples", "lenet5.nnd")
MLP = "model M {\n    input x: [N, 8]\n    output y = x -> Linear(4) as fc -> ReLU\n}\n"


def _run(argv, capsys):
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def lenets(tmp_path_factory):
    d = tmp_path_factory.mktemp("cmp")
    a, b, c = str(d / "a.onnx"), str(d / "b.onnx"), str(d / "c.onnx")
    assert main(["compile", LENET, "-o", a]) == 0
    assert main(["compile", LENET, "--seed", "1", "-o", b]) == 0
    assert main(["compile", LENET, "--precision", "fp16", "-o", c]) == 0
    return a, b, c, d


# ------------------------------------------------------------------ bench --compare

def test_compare_prints_one_table_with_the_ratio_and_agreement(lenets, capsys):
    a, _, c, _ = lenets
    rc, out, err = _run(["bench", "--compare", a, c, "--runs", "10", "--batch", "2"], capsys)
    assert rc == 0, err
    lines = out.splitlines()
    assert "image [2, 1, 32, 32]" in lines[0] and "10 runs each, interleaved" in lines[0]
    assert lines[1].split() == ["model", "median", "ms", "p10", "ms", "p90", "ms", "samples/s", "ratio"]
    assert lines[2].startswith(a) and lines[2].endswith("1.00x")
    assert lines[3].startswith(c) and lines[3].endswith("x")
    cos = float(lines[4].split("cosine ")[1].split()[0])
    assert lines[4].startswith("output  probs:") and cos > 0.999


def test_compare_json_and_that_different_weights_disagree(lenets, capsys):
    a, b, _, _ = lenets
    rc, out, err = _run(["bench", "--compare", a, b, "--runs", "5", "--json", "--batch", "8"], capsys)
    assert rc == 0, err
    d = json.loads(out)
    assert d["a_latency"]["runs"] == d["b_latency"]["runs"] == 5
    assert d["ratio_b_over_a"] == pytest.approx(d["b_latency"]["median_ms"] / d["a_latency"]["median_ms"])
    g = d["agreement"][0]
    assert g["output"] == "probs" and g["samples"] == 8
    assert g["max_rel"] > 0.01          # other seeds, other weights: the comparison sees it


def test_interleaving_alternates_blocks_and_their_order():
    from nnd.runtime.compare import interleaved
    calls = []
    la, lb = interleaved(lambda: calls.append("a"), lambda: calls.append("b"), rounds=2, warmup=0, block=2)
    assert calls == ["a", "a", "b", "b", "b", "b", "a", "a"]
    assert len(la) == len(lb) == 4


def test_compare_errors(lenets, tmp_path, capsys):
    a, _, _, _ = lenets
    mlp = tmp_path / "m.nnd"
    mlp.write_text(MLP)
    rc, _, err = _run(["bench", a, "--compare", a, a], capsys)
    assert rc == 2 and "give either FILE or --compare A B, not both" in err
    rc, _, err = _run(["bench"], capsys)
    assert rc == 2 and "bench needs a FILE (or --compare A B)" in err
    rc, _, err = _run(["bench", "--compare", a, str(mlp), "--runs", "1"], capsys)
    assert rc == 2 and "the models' inputs differ: image and x" in err
    rc, _, err = _run(["bench", "--compare", a, str(tmp_path / "none.onnx")], capsys)
    assert rc == 2 and "none.onnx" in err


# ------------------------------------------------------------------ export --triton

def _model_config():
    """Triton's ModelConfig message, from the tritonclient package (its
    generated model_config_pb2, loaded alone: the grpc client is not needed)."""
    spec = importlib.util.find_spec("tritonclient")
    if spec is None:
        pytest.skip("tritonclient is not installed (the `test` extra has it)")
    path = os.path.join(os.path.dirname(spec.origin), "grpc", "model_config_pb2.py")
    s = importlib.util.spec_from_file_location("_triton_model_config_pb2", path)
    mod = importlib.util.module_from_spec(s)
    s.loader.exec_module(mod)
    return mod


def _parse(path):
    from google.protobuf import text_format
    mc = _model_config()
    with open(path, encoding="utf-8") as f:
        return text_format.Parse(f.read(), mc.ModelConfig()), mc


def test_export_writes_a_repository_that_triton_s_schema_accepts(tmp_path, capsys):
    repo = tmp_path / "repo"
    rc, out, err = _run(["export", LENET, "--triton", str(repo), "--instances", "3", "--kind", "gpu",
                         "--max-batch-size", "16"], capsys)
    assert rc == 0, err
    assert (repo / "lenet5" / "1" / "model.onnx").is_file()
    cfg, mc = _parse(repo / "lenet5" / "config.pbtxt")
    assert cfg.name == "lenet5" and cfg.platform == "onnxruntime_onnx" and cfg.max_batch_size == 16
    assert [(i.name, i.data_type, list(i.dims)) for i in cfg.input] == [("image", mc.TYPE_FP32, [1, 32, 32])]
    assert [(o.name, list(o.dims)) for o in cfg.output] == [("probs", [10])]
    assert cfg.instance_group[0].count == 3 and cfg.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU
    assert cfg.HasField("dynamic_batching") and cfg.dynamic_batching.max_queue_delay_microseconds == 100
    m = onnx.load(str(repo / "lenet5" / "1" / "model.onnx"))
    assert [i.name for i in m.graph.input] == ["image"]


def test_export_without_batching_gives_full_dims_with_minus_one(tmp_path, capsys):
    src = tmp_path / "seq.nnd"
    src.write_text("model Seq {\n    input x: [N, T, 8]\n    output y = x -> Linear(4) as fc\n}\n")
    rc, _, err = _run(["export", str(src), "--triton", str(tmp_path / "r"), "--max-batch-size", "0",
                       "--name", "seq_model"], capsys)
    assert rc == 0, err
    cfg, mc = _parse(tmp_path / "r" / "seq_model" / "config.pbtxt")
    assert cfg.max_batch_size == 0 and not cfg.HasField("dynamic_batching")
    assert list(cfg.input[0].dims) == [-1, -1, 8] and list(cfg.output[0].dims) == [-1, -1, 4]
    assert cfg.instance_group[0].kind == mc.ModelInstanceGroup.KIND_CPU


def test_export_of_an_onnx_file_and_without_dynamic_batching(lenets, tmp_path, capsys):
    _, _, c, _ = lenets     # the fp16 model: float32 at its boundaries
    rc, _, err = _run(["export", c, "--triton", str(tmp_path / "r"), "--no-dynamic-batching"], capsys)
    assert rc == 0, err
    cfg, mc = _parse(tmp_path / "r" / "c" / "config.pbtxt")
    assert cfg.input[0].data_type == mc.TYPE_FP32 and not cfg.HasField("dynamic_batching")
    src, got = onnx.load(c), onnx.load(str(tmp_path / "r" / "c" / "1" / "model.onnx"))
    assert src.graph == got.graph


@pytest.mark.parametrize("argv, message", [
    (["--instances", "0"], "--instances must be at least 1; got 0"),
    (["--max-batch-size", "-1"], "--max-batch-size must be at least 0; got -1"),
    (["--name", "../x"], "`../x` is not a usable Triton model name"),
    ([], None),
])
def test_export_usage_errors(argv, message, tmp_path, capsys):
    repo = ["--triton", str(tmp_path / "r")] if message else []
    rc, _, err = _run(["export", LENET] + repo + argv, capsys)
    assert rc == 2 and (message or "export needs a target: --triton REPO/") in err
    assert not (tmp_path / "r").exists()


def test_export_refuses_batching_without_a_symbolic_batch(tmp_path, capsys):
    src = tmp_path / "fixed.nnd"
    src.write_text("model Fixed {\n    input x: [2, 8]\n    output y = x -> Linear(4) as fc\n}\n")
    rc, _, err = _run(["export", str(src), "--triton", str(tmp_path / "r")], capsys)
    assert rc == 2 and "every input and output must have the same symbolic first dimension" in err
    rc, _, err = _run(["export", str(src), "--triton", str(tmp_path / "r"), "--max-batch-size", "0"], capsys)
    assert rc == 0, err
    cfg, _ = _parse(tmp_path / "r" / "fixed" / "config.pbtxt")
    assert list(cfg.input[0].dims) == [2, 8]


def test_export_of_a_file_with_errors_exits_1_and_a_non_onnx_file_2(tmp_path, capsys):
    bad = tmp_path / "bad.nnd"
    bad.write_text("model B {\n    input x: [N, 8]\n    output y = x -> Nope\n}\n")
    rc, _, err = _run(["export", str(bad), "--triton", str(tmp_path / "r")], capsys)
    assert rc == 1 and "error" in err
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    rc, _, err = _run(["export", str(junk), "--triton", str(tmp_path / "r")], capsys)
    assert rc == 2 and "cannot read" in err and "as ONNX" in err
