"""nndc lsp, spoken to as an editor would: `python -m nnd lsp` in a
subprocess, JSON-RPC with Content-Length framing over its stdin/stdout.
Every read has a timeout, so a server that hangs fails the test."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading

import pytest

pytest.importorskip("pygls")

TIMEOUT = 60   # seconds for any one answer (the first check loads the layer registry)

SOURCE = """import "head.nnd"
model M(width = 8) {
    input image: [N, 3, 32, 32]
    h = image -> Conv2d(width, 3, padding = 1) as conv1 -> ReLU
    h = h -> Flatten
    output y = h -> Head(classes = 5)
}
"""
HEAD = """block Head(classes = 10) {
    input x
    output y = x -> Linear(classes)
}
"""


class Client:
    def __init__(self, cwd):
        self.p = subprocess.Popen([sys.executable, "-m", "nnd", "lsp"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
        self.messages: queue.Queue = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        out = self.p.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.decode("ascii").strip()
                if not line:
                    break
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
            self.messages.put(json.loads(out.read(int(headers["content-length"]))))

    def send(self, method, params, request=True):
        msg = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self.next_id += 1
            msg["id"] = self.next_id
        body = json.dumps(msg).encode()
        self.p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.p.stdin.flush()
        return msg.get("id")

    def wait(self, pred):
        while True:
            try:
                m = self.messages.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError("the server did not answer in time") from None
            if pred(m):
                return m

    def request(self, method, params):
        i = self.send(method, params)
        m = self.wait(lambda m: m.get("id") == i and "method" not in m)
        assert "error" not in m, m
        return m["result"]

    def diagnostics(self, uri):
        return self.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                         and m["params"]["uri"] == uri)["params"]["diagnostics"]


@pytest.fixture
def client(tmp_path):
    c = Client(str(tmp_path))
    yield c
    if c.p.poll() is None:
        c.p.kill()
    c.p.wait(timeout=10)


def _uri(path):
    return "file://" + str(path)


def test_language_server_over_stdio(tmp_path, client):
    (tmp_path / "head.nnd").write_text(HEAD)
    path = tmp_path / "m.nnd"
    path.write_text(SOURCE)
    uri = _uri(path)
    caps = client.request("initialize", {"processId": None, "rootUri": _uri(tmp_path), "capabilities": {}})
    c = caps["capabilities"]
    assert c["hoverProvider"] and c["definitionProvider"] and c["documentFormattingProvider"]
    client.send("initialized", {}, request=False)

    client.send("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "nnd", "version": 1,
                                                          "text": SOURCE}}, request=False)
    assert client.diagnostics(uri) == []

    # an error as you type: the same code and span as nndc check
    broken = SOURCE.replace("h -> Flatten", "h -> Conv1d(4, 3)")
    client.send("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                           "contentChanges": [{"text": broken}]}, request=False)
    diags = client.diagnostics(uri)
    assert [d["code"] for d in diags] == ["E0310"]
    assert diags[0]["range"] == {"start": {"line": 4, "character": 13}, "end": {"line": 4, "character": 25}}
    assert diags[0]["severity"] == 1 and "`Conv1d` expects [N, C, W]" in diags[0]["message"]
    client.send("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3},
                                           "contentChanges": [{"text": SOURCE}]}, request=False)
    assert client.diagnostics(uri) == []

    doc = {"textDocument": {"uri": uri}}
    # hover: a tensor's shape, a layer's parameters and count
    h = client.request("textDocument/hover", {**doc, "position": {"line": 4, "character": 4}})
    assert h["contents"]["value"] == "`h`: [N, 8192]"
    h = client.request("textDocument/hover", {**doc, "position": {"line": 3, "character": 18}})
    v = h["contents"]["value"]
    assert "**Conv2d** `conv1` → [N, 8, 32, 32]" in v and "padding = 1" in v and "224 parameters" in v
    # go to definition: a block in an imported file, and the import itself
    d = client.request("textDocument/definition", {**doc, "position": {"line": 5, "character": 21}})
    assert d["uri"] == _uri(tmp_path / "head.nnd") and d["range"]["start"] == {"line": 0, "character": 6}
    d = client.request("textDocument/definition", {**doc, "position": {"line": 0, "character": 9}})
    assert d["uri"] == _uri(tmp_path / "head.nnd")
    # completion: keyword arguments of the call first, then layers and blocks
    items = client.request("textDocument/completion", {**doc, "position": {"line": 3, "character": 30}})["items"]
    labels = [i["label"] for i in items]
    assert labels[0] == "out_channels = " and "Conv2d" in labels and "Head" in labels
    items = client.request("textDocument/completion", {**doc, "position": {"line": 5, "character": 25}})["items"]
    assert items[0]["label"] == "classes = "
    # formatting: nndc fmt's layout, as one edit
    ugly = SOURCE.replace("h = h -> Flatten", "h=h->Flatten")
    client.send("textDocument/didChange", {"textDocument": {"uri": uri, "version": 4},
                                           "contentChanges": [{"text": ugly}]}, request=False)
    client.diagnostics(uri)
    edits = client.request("textDocument/formatting", {**doc, "options": {"tabSize": 4, "insertSpaces": True}})
    assert len(edits) == 1 and edits[0]["newText"] == SOURCE

    assert client.request("shutdown", None) is None
    client.send("exit", None, request=False)
    assert client.p.wait(timeout=TIMEOUT) == 0


def test_without_pygls_a_one_line_install_hint(tmp_path):
    # a sitecustomize that hides pygls, as if it were not installed
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nclass _Hide:\n    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'pygls' or name.startswith('pygls.'):\n"
        "            raise ImportError('hidden')\nsys.meta_path.insert(0, _Hide())\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "nnd", "lsp"], capture_output=True, text=True, env=env,
                       stdin=subprocess.DEVNULL, timeout=TIMEOUT)
    assert r.returncode == 2
    assert r.stderr == "nndc: error: nndc lsp needs pygls: pip install 'nnd[lsp]' (or pip install pygls)\n"
