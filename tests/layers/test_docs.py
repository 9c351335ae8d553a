import os

from nnd.layers.doc import render

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "layers.md")


def test_layer_docs_are_generated_from_the_registry():
    with open(DOC, encoding="utf-8") as f:
        committed = f.read()
    assert committed == render(), "docs/layers.md is stale: run `python -m nnd.layers.doc > docs/layers.md`"


def test_every_layer_and_parameter_is_documented():
    text = render()
    from nnd.layers import load_all
    for name, spec in load_all().items():
        assert f"`{name}`" in text
        for p in spec.params:
            assert f"| `{p.name}` |" in text
