"""editors/vscode: the JSON files parse, the package points at files that
exist, the TextMate grammar's regexes compile (Python's `re` accepts the
subset used) and a small TextMate-style tokenizer gives the expected scopes
on a sample, every keyword of grammar/nnd.lark included."""

from __future__ import annotations

import json
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VSCODE = os.path.join(REPO, "editors", "vscode")


def _json(name):
    with open(os.path.join(VSCODE, name), encoding="utf-8") as f:
        return json.load(f)


GRAMMAR = _json(os.path.join("syntaxes", "nnd.tmLanguage.json"))


def test_package_points_at_its_files():
    pkg = _json("package.json")
    lang, = pkg["contributes"]["languages"]
    assert lang["id"] == "nnd" and lang["extensions"] == [".nnd"]
    gram, = pkg["contributes"]["grammars"]
    assert gram["scopeName"] == GRAMMAR["scopeName"] == "source.nnd"
    for path in (lang["configuration"], gram["path"], pkg["main"]):
        assert os.path.isfile(os.path.join(VSCODE, path)), path
    assert "vscode-languageclient" in pkg["dependencies"]
    assert pkg["contributes"]["configuration"]["properties"]["nnd.server.command"]["default"] == ["nndc", "lsp"]
    with open(os.path.join(VSCODE, pkg["main"]), encoding="utf-8") as f:
        assert "vscode-languageclient/node" in f.read()


def test_language_configuration():
    conf = _json("language-configuration.json")
    assert conf["comments"] == {"lineComment": "#"}
    assert ["{", "}"] in conf["brackets"] and ["(", ")"] in conf["brackets"]
    assert {"open": "[", "close": "]"} in conf["autoClosingPairs"]
    for pattern in conf["indentationRules"].values():
        re.compile(pattern)


def _rules(node=GRAMMAR):
    """Every rule with a match, begin or end, through includes."""
    for p in node.get("patterns", []):
        if "include" in p:
            yield from _rules(GRAMMAR["repository"][p["include"][1:]])
        else:
            yield p
    if "match" in node or "begin" in node:
        yield node


def test_every_regex_compiles():
    n = 0
    for rule in _rules():
        for key in ("match", "begin", "end"):
            if key in rule:
                re.compile(rule[key])
                n += 1
        for inner in rule.get("patterns", []):
            re.compile(inner["match"])
            n += 1
    assert n > 15


def tokenize(line: str) -> list[tuple[str, str]]:
    """(text, scope) of a line, as a TextMate engine would: at each place
    the rule matching earliest wins (the first listed on a tie); a begin
    rule runs to its end; captures name groups."""
    rules = list(_rules())
    out, pos = [], 0
    while pos < len(line):
        best = None
        for rule in rules:
            m = re.compile(rule.get("match") or rule["begin"]).search(line, pos)
            if m and m.end() > m.start() and (best is None or m.start() < best[1].start()):
                best = (rule, m)
        if best is None:
            break
        rule, m = best
        if "begin" in rule:
            e = re.compile(rule["end"]).search(line, m.end())
            end = e.end() if e else len(line)
            out.append((line[m.start():end], rule["name"]))
            pos = end
            continue
        if "captures" in rule:
            for g, cap in sorted(rule["captures"].items()):
                if m.group(int(g)):
                    out.append((m.group(int(g)), cap["name"]))
        else:
            out.append((m.group(), rule["name"]))
        pos = m.end()
    return out


def test_tokenizes_a_sample():
    toks = tokenize('model M(width = 8) {  # a model')
    assert toks[:2] == [("model", "keyword.declaration.nnd"), ("M", "entity.name.type.nnd")]
    assert ("8", "constant.numeric.integer.nnd") in toks and ("=", "keyword.operator.assignment.nnd") in toks
    assert toks[-1] == ("# a model", "comment.line.number-sign.nnd")
    toks = dict(tokenize('    y = x -> Conv2d(8, 3) as "conv{i}" -> Dropout(0.5) if not true else x'))
    assert toks["->"] == "keyword.operator.pipeline.nnd"
    assert toks["Conv2d"] == toks["Dropout"] == "entity.name.class.layer.nnd"
    assert toks['"conv{i}"'] == "string.quoted.double.nnd"
    assert toks["0.5"] == "constant.numeric.float.nnd"
    assert toks["as"] == toks["if"] == toks["else"] == "keyword.control.nnd"
    assert toks["not"] == "keyword.operator.logical.nnd" and toks["true"] == "constant.language.boolean.nnd"
    assert dict(tokenize("    input x: [N, 3]"))["input"] == "storage.type.nnd"
    assert dict(tokenize("for i in 0..n {"))[".."] == "keyword.operator.range.nnd"


def test_every_keyword_of_the_language_is_highlighted():
    with open(os.path.join(REPO, "grammar", "nnd.lark"), encoding="utf-8") as f:
        grammar = re.sub(r"//.*", "", f.read())
    keywords = set(re.findall(r'"([a-z]+)"', grammar))
    assert {"model", "block", "shared", "import"} <= keywords
    for kw in sorted(keywords):
        scopes = [s for text, s in tokenize(kw) if text == kw]
        assert scopes and scopes[0].startswith(("keyword.", "storage.", "constant.language")), kw
