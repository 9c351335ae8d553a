"""Training attributes (`l1`, `l2`, `l1_bias`, `l2_bias`, `max_norm`,
`trainable`) on layer and block calls: checked where they are written,
recorded per parameter in the ONNX metadata (`nnd.training`), shown by
`nndc summary`, and nothing else in the compiled model changes."""

from __future__ import annotations

import json

import pytest

import nnd
from nnd.cli import main

BLOCK = "block Blk(c) {\n    input x\n    output y = x -> Linear(c) as fc -> ReLU\n}\n"


def program(head: str, tail: str = "", block: str = "") -> str:
    return (BLOCK + "model M {\n    input x: [N, 4]\n"
            f"    output y = x -> Linear(8{head}) as fc -> Blk(8{block}) as b -> Linear(2{tail}) as out\n}}\n")


def _meta(model) -> dict:
    return {p.key: p.value for p in model.metadata_props}


def test_attributes_are_recorded_per_parameter():
    m = nnd.compile(text=program(", l2 = 0.01, max_norm = 3, l1_bias = 0.5", ", l1 = 1e-3", ", trainable = false"))
    got = json.loads(_meta(m)["nnd.training"])
    assert got == {
        "fc.weight": {"l2": 0.01, "max_norm": 3.0}, "fc.bias": {"l1": 0.5},
        "b.fc.weight": {"trainable": False}, "b.fc.bias": {"trainable": False},
        "out.weight": {"l1": 0.001},
    }


def test_a_layer_inside_a_block_overrides_the_block():
    text = ("block Blk(c) {\n    input x\n    output y = x -> Linear(c, trainable = true, l2 = 0.5) as fc "
            "-> Linear(c) as g\n}\nmodel M {\n    input x: [N, 4]\n    output y = x -> Blk(4, trainable = false, "
            "l2 = 0.1) as b\n}\n")
    got = json.loads(_meta(nnd.compile(text=text))["nnd.training"])
    assert got["b.fc.weight"] == {"l2": 0.5}
    assert got["b.g.weight"] == {"l2": 0.1, "trainable": False}
    assert got["b.g.bias"] == {"trainable": False}     # l2 is the kernel's; the bias has l2_bias


def test_the_compiled_graph_is_the_same_bytes_but_the_metadata():
    plain = nnd.compile(text=program(""))
    marked = nnd.compile(text=program(", l2 = 0.01, max_norm = 3", ", l1 = 1", ", trainable = false"))
    assert "nnd.training" not in _meta(plain) and "nnd.training" in _meta(marked)
    keep = [p for p in marked.metadata_props if p.key != "nnd.training"]
    del marked.metadata_props[:]
    marked.metadata_props.extend(keep)
    for m in (plain, marked):   # source positions: the attributes move the later layers' columns
        for n in m.graph.node:
            n.doc_string = ""
    assert marked.SerializeToString() == plain.SerializeToString()


def test_a_block_parameter_of_the_same_name_keeps_it():
    text = ("block Blk(l2 = 1) {\n    input x\n    output y = x -> Linear(l2) as fc\n}\n"
            "model M {\n    input x: [N, 4]\n    output y = x -> Blk(l2 = 7) as b\n}\n")
    res = nnd.check(text=text)
    assert res.ok, [d.message for d in res.diagnostics]
    assert res.ir.node(res.ir.outputs[0].node)["shapes"][0] == ("N", 7) or \
        tuple(map(str, res.ir.node(res.ir.outputs[0].node)["shapes"][0])) == ("N", "7")
    assert not res.ir.meta.get("training")


@pytest.mark.parametrize("arg,code,message", [
    ("l2 = -0.1", "E0107", "`l2` must be a finite number >= 0; got -0.1"),
    ("max_norm = 0", "E0107", "`max_norm` must be positive; got 0"),
    ("l1 = \"a\"", "E0106", "`l1` must be a number; got \"a\""),
    ("l2_bias = true", "E0106", "`l2_bias` must be a number; got true"),
    ("trainable = 1", "E0106", "`trainable` must be `true` or `false`; got 1"),
])
@pytest.mark.parametrize("where", ["layer", "block"])
def test_bad_values_are_located_errors(arg, code, message, where):
    text = program(", " + arg) if where == "layer" else program("", block=", " + arg)
    res = nnd.check(text=text)
    errs = res.errors
    assert [(d.code, d.message) for d in errs] == [(code, message)]
    line = text.splitlines()[errs[0].span.line - 1]
    assert line[errs[0].span.column - 1:].startswith(arg.split(" ")[0])


def test_summary_shows_trainable_frozen_and_regularized(tmp_path, capsys):
    f = tmp_path / "m.nnd"
    f.write_text(program(", l2 = 0.01", block=", trainable = false"))
    assert main(["summary", str(f)]) == 0
    # fc 4*8+8 = 40 (weight 32 regularized), b.fc 8*8+8 = 72 frozen, out 8*2+2 = 18
    assert "training: 58 trainable, 72 frozen, 32 regularized" in capsys.readouterr().out
    f.write_text(program(""))
    assert main(["summary", str(f)]) == 0
    assert "training:" not in capsys.readouterr().out


CHAIN = ("block Blk {{\n    input x\n    output y = x -> Linear(4) as fc\n}}\n"
         "model M {{\n    input x: [N, 4]\n    output y = x -> {stage} -> Linear(2) as head\n}}\n")


@pytest.mark.parametrize("stage,frozen", [
    ("(Linear(8) -> ReLU -> Linear(4))(trainable = false) as stem", ["stem.0", "stem.2"]),
    ("(Blk * 2)(trainable = false) as layers", ["layers.0.fc", "layers.1.fc"]),
    ("(Linear(8) -> Blk * 2)(trainable = false)", ["linear_0", "blk_0.fc", "blk_1.fc"]),
    ("(Linear(8) -> Linear(4, trainable = true) as keep)(trainable = false) as stem", ["stem.0"]),
])
def test_a_chain_or_a_repetition_takes_training_attributes_for_every_layer_inside(stage, frozen):
    got = json.loads(_meta(nnd.compile(text=CHAIN.format(stage=stage)))["nnd.training"])
    assert got == {f"{n}.{p}": {"trainable": False} for n in frozen for p in ("weight", "bias")}


def test_a_chain_bound_to_a_name_takes_them_where_it_is_used():
    text = ("model M {\n    input x: [N, 4]\n    let stem = Linear(8) -> Linear(4)\n"
            "    output y = x -> stem(l2 = 0.5, max_norm = 2) -> stem -> Linear(2) as head\n}\n")
    got = json.loads(_meta(nnd.compile(text=text))["nnd.training"])
    both = {"l2": 0.5, "max_norm": 2.0}   # the second use (linear_2, linear_3) has none
    assert got == {"linear_0.weight": both, "linear_1.weight": both}


@pytest.mark.parametrize("call,code,message,at", [
    ("(8)", "E0105", "a chain of layers takes no positional arguments", "8"),
    ("(frozen = true)", "E0103", "a chain of layers has no parameter `frozen`", "frozen"),
    ("(trainable = 1)", "E0106", "`trainable` must be `true` or `false`; got 1", "trainable"),
])
def test_a_chain_takes_only_training_attributes(call, code, message, at):
    text = CHAIN.format(stage=f"(Linear(8) -> ReLU){call}")
    errs = nnd.check(text=text).errors
    assert [(d.code, d.message) for d in errs] == [(code, message)]
    line = text.splitlines()[errs[0].span.line - 1]
    assert line[errs[0].span.column - 1:].startswith(at)
