"""Layer naming the standard library relies on: chains named with `as`
scope every layer in them, and string names interpolate expressions."""

import nnd


def _names(text, **kw):
    res = nnd.check(text=text, **kw)
    assert res.ok, [d.message for d in res.errors]
    return [d["name"] for _, d in res.ir.g.nodes(data=True)]


def test_named_chain_of_layers_scopes_each_layer():
    names = _names("""
model M {
    input x: [N, 3, 8, 8]
    output y = x -> (Conv2d(4, 3) -> ReLU -> MaxPool2d(2)) as features -> Flatten -> Linear(2) as fc
}
""")
    assert names[:4] == ["x", "features.0", "features.1", "features.2"]
    assert names[-1] == "fc"


def test_named_chain_of_layers_inside_a_block():
    names = _names("""
block B {
    input x
    output y = x -> (Conv2d(4, 1, bias = false) -> BatchNorm) as downsample
}
model M {
    input x: [N, 3, 8, 8]
    output y = x -> B as unit
}
""")
    assert names[1:] == ["unit.downsample.0", "unit.downsample.1"]


def test_string_names_interpolate_expressions():
    names = _names("""
model M {
    input x: [N, 4]
    k = 0
    for i in 0..3 {
        x = x -> Linear(4) as "dense.layer{i + 1}" -> ReLU as "act{k}"
        k = k + 2
    }
    output y = x
}
""")
    assert [n for n in names if n.startswith("dense")] == ["dense.layer1", "dense.layer2", "dense.layer3"]
    assert [n for n in names if n.startswith("act")] == ["act0", "act2", "act4"]


def test_names_may_contain_a_hyphen_inside_a_part():
    # torchvision's RegNet names its units `trunk_output.block1.block1-0`
    names = _names("""
model M {
    input x: [N, 4]
    for i in 0..2 {
        x = x -> Linear(4) as "trunk.block1.block1-{i}"
    }
    output y = x
}
""")
    assert names[1:] == ["trunk.block1.block1-0", "trunk.block1.block1-1"]
    for bad in ("-a", "a.-b", "a..b"):
        res = nnd.check(text=f'model M {{\n    input x: [N, 4]\n    output y = x -> Linear(4) as "{bad}"\n}}\n')
        assert [(d.code, d.message) for d in res.errors] == [("E0107", f"`{bad}` is not a valid layer name")]


def test_model_instance_of_an_instance_overrides_parameters():
    text = """
model Net(classes = 1000, hidden = 8) {
    input x: [N, 4]
    output y = x -> Linear(hidden) -> ReLU -> Linear(classes) as fc
}
model Net10 = Net(classes = 10)
model Net5 = Net10(hidden = 3, classes = 5)
"""
    for model, shape in (("Net", (1000, 8)), ("Net10", (10, 8)), ("Net5", (5, 3))):
        res = nnd.check(text=text, model=model)
        assert res.ok
        fc = next(d for _, d in res.ir.g.nodes(data=True) if d["name"] == "fc")
        assert fc["attrs"]["weights"]["weight"].shape == shape


def test_int_truncates_a_number_for_width_multipliers():
    res = nnd.check(text="""
model M(width = 0.75) {
    input x: [N, 3, 8, 8]
    output y = x -> Conv2d(int(32 * width), 1) as conv -> Conv2d(int(-2.5) + int(10), 1) as conv2
}
""")
    assert res.ok, [d.message for d in res.errors]
    convs = {d["name"]: d["shapes"][0] for _, d in res.ir.g.nodes(data=True)}
    assert convs["conv"][1] == 24 and convs["conv2"][1] == 8
    bad = nnd.check(text="""
model M {
    input x: [N, 3]
    output y = x -> Linear(int("3"))
}
""")
    assert [d.code for d in bad.errors] == ["E0117"]
