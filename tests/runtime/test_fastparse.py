"""The fast parser builds exactly lark's tree, spans included, or declines."""

import glob
import os
import sys

import pytest

from nnd import fastparse
from nnd.parser import ParseError, _ToAst, _parse

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def lark_items(text, file="t.nnd"):
    return _ToAst(file).transform(_parse(text, file, "start"))


def same(text):
    fast = fastparse.parse_items(text, "t.nnd")
    assert fast is not None, "the fast parser declined"
    assert fast == lark_items(text)


SNIPPETS = [
    "model M { input x: [N, 3, 8, 8]\n output y = x -> Conv2d(8, 3, padding = 1) -> ReLU }",
    """
import std.resnet
import "other.nnd"

let width = 64   # a comment

block B(c, k = 3, down = false,) {
    input x
    x: [_, c, _, _]
    h = x -> Conv2d(c, k, padding = k // 2) as conv -> BatchNorm2d as bn.0
    if down and not (c > 3 or c == 1) {
        s = x -> Conv2d(c, 1, stride = 2) as "down{c}"
    } else if c != 2 {
        s = x
    } else {
        s = -x * 2 - (x + 1) / 3 % 4
    }
    let t = (1, 2,)
    let u = (h, s)
    let v = [1, 2.5, 1e3, "a", 'b', true, false, []]
    for i in 0 .. len(v) - 1 {
        h = h -> ReLU as "r{i}"
    }
    a, b = split(h, 2)
    output y = (h + s)
        -> ReLU
        -> Identity as out
}

model Net(classes = 10) {
    input image: [N, 3, 32, 32]
    output logits, feats = image -> B(16, down = true) as b1 -> (B(16) -> B(16)) * 2
        -> GlobalAvgPool -> Flatten -> Linear(classes) as fc
}

model Small = Net(classes = 5)
model Tiny = Small()
""",
    "model M {\n    input x: [N, 4]\n    output y = x.shape[1] \\\n + x.rank\n}\n",
    "model M {\n    input x: [N, 4]\n    output y = x -> Linear(x.channels * 2 - -1) -> ReLU\n\n\n}\n\n\n",
    "model M { input x\n output y = x }",
    "model M { input x\n output y = +x * -(+x) }",
    "",
    "\n\n# only a comment\n",
]


@pytest.mark.parametrize("text", SNIPPETS)
def test_snippets(text):
    same(text)


def corpus():
    files = glob.glob(os.path.join(ROOT, "examples", "*.nnd")) + glob.glob(os.path.join(ROOT, "stdlib", "*.nnd"))
    return sorted(files)


@pytest.mark.parametrize("path", corpus(), ids=os.path.basename)
def test_repository_files(path):
    with open(path, encoding="utf-8") as f:
        same(f.read())


def test_benchmark_models():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        import models
    finally:
        sys.path.pop(0)
    for name in ("lenet5", "resnet50", "vgg16", "chain50"):
        same(models.nnd_source(name))


def test_every_layer_case():
    from helpers import layer_program
    from nnd.layers import load_all
    seen = set()
    for spec in load_all().values():
        for case in spec.cases:
            n_out = 1
            text = layer_program(case.expr, case.inputs, n_out)
            if text in seen:
                continue
            seen.add(text)
            same(text)


@pytest.mark.parametrize("text", [
    "model M { input x\n output y = x -> A as a.0.1 }",   # `0.1` lexes as a number: an error
    "model M { input x\n output y = a < b < c }",
    "model M { input x\n output y = x -> }",
    "model M { input x\n output y = (x }",
    "model M { input x\n output y = x ? 1 }",
    "model { }",
    "model M { input x\n output y = f(a = 1, 2 }",
])
def test_declines_what_it_does_not_handle(text):
    assert fastparse.parse_items(text, "t.nnd") is None
    try:
        lark_items(text)
    except ParseError:
        pass


def test_rejects_whatever_lark_rejects():
    bad = ["model M { input x output y = x }", "model M {\n input x\n output y = x -> Conv2d(3,)(\n}",
           "block B { input }", "let = 3", "model M { for i in 0 .. { } }", "import", "model M = ",
           "model M { input x\n y = (1, ) , 2\n output y }", "model M { if x { } else }"]
    for text in bad:
        with pytest.raises(ParseError):
            lark_items(text)
        assert fastparse.parse_items(text, "t.nnd") is None, text


def test_random_edits_of_valid_programs():
    """Mutated programs: where lark accepts, the same tree (or a decline);
    where lark rejects, a decline."""
    import random
    import re
    rng = random.Random(5)
    base = SNIPPETS[1] + SNIPPETS[2] + SNIPPETS[3]
    pieces = re.findall(r"\s+|\w+|->|\.\.|==|!=|<=|>=|//|.", base)
    vocab = sorted(set(pieces)) + ["\n", "(", ")", ",", "+", "-", "not ", "->", "{", "}", "0.1", "as"]
    for _ in range(300):
        p = list(pieces)
        for _ in range(rng.randint(1, 4)):
            k = rng.randrange(len(p))
            op = rng.random()
            if op < 0.4:
                del p[k]
            elif op < 0.7:
                p.insert(k, rng.choice(vocab))
            else:
                p[k] = rng.choice(vocab)
        text = "".join(p)
        try:
            want = lark_items(text)
        except ParseError:
            want = None
        got = fastparse.parse_items(text, "t.nnd")
        if want is None:
            assert got is None, text
        elif got is not None:
            assert got == want, text
