"""nndc lsp: a language server over stdio (pygls), for any editor with an
LSP client. Diagnostics as you type (nnd.check on the editor's text, the
same codes and spans as `nndc check`), hover, go to definition, completion
and formatting (`nndc fmt`). The work is in lsp_analysis.py; this file is
the protocol. pygls is an optional dependency: `pip install 'nnd[lsp]'`.
"""

from __future__ import annotations

import os
import sys

INSTALL_HINT = "nndc lsp needs pygls: pip install 'nnd[lsp]' (or pip install pygls)\n"


def cmd_lsp(args) -> int:
    try:
        import pygls  # noqa: F401
    except ImportError:
        sys.stderr.write("nndc: error: " + INSTALL_HINT)
        return 2
    ls = server()
    ls.start_io()
    # pygls closes stdout when the client says `exit`; nndc's own final flush must not fail on it
    sys.stdout = open(os.devnull, "w")
    # the protocol's exit code: 0 after `shutdown`, 1 if the client exits without it
    return 0 if getattr(ls.protocol, "_shutdown", True) else 1


def server():
    from lsprotocol import types as t
    from pygls.lsp.server import LanguageServer

    from .lsp_analysis import Document

    ls = LanguageServer("nndc", "0.1.0")
    docs: dict[str, Document] = {}

    def analyze(uri: str) -> Document:
        td = ls.workspace.get_text_document(uri)
        doc = Document(td.source, td.path or "untitled.nnd")
        docs[uri] = doc
        return doc

    def rng(line, col, end_line, end_col):
        return t.Range(t.Position(line - 1, col - 1), t.Position(end_line - 1, end_col - 1))

    def publish(uri: str) -> None:
        doc = analyze(uri)
        out = []
        for d in doc.result.diagnostics:
            s = d.span
            message = d.message + (f"\nhelp: {d.help}" if d.help else "")
            if s is not None and s.file == doc.display:
                r = rng(s.line, s.column, s.end_line, max(s.end_column, s.column + 1) if s.end_line == s.line
                        else s.end_column)
            else:   # in an imported file, or nowhere: at the top, naming where
                r = rng(1, 1, 1, 1)
                if s is not None:
                    message = f"{s.file}:{s.line}:{s.column}: {message}"
            severity = t.DiagnosticSeverity.Error if d.is_error else t.DiagnosticSeverity.Warning
            out.append(t.Diagnostic(range=r, message=message, severity=severity, code=d.code, source="nndc"))
        ls.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri=uri, diagnostics=out))

    def doc_for(uri: str) -> Document:
        return docs.get(uri) or analyze(uri)

    @ls.feature(t.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: t.DidOpenTextDocumentParams):
        publish(params.text_document.uri)

    @ls.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: t.DidChangeTextDocumentParams):
        publish(params.text_document.uri)

    @ls.feature(t.TEXT_DOCUMENT_DID_SAVE)
    def did_save(params: t.DidSaveTextDocumentParams):
        publish(params.text_document.uri)

    @ls.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: t.DidCloseTextDocumentParams):
        docs.pop(params.text_document.uri, None)

    @ls.feature(t.TEXT_DOCUMENT_HOVER)
    def hover(params: t.HoverParams):
        p = params.position
        text = doc_for(params.text_document.uri).hover(p.line + 1, p.character + 1)
        if text is None:
            return None
        return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=text))

    @ls.feature(t.TEXT_DOCUMENT_DEFINITION)
    def definition(params: t.DefinitionParams):
        from pygls.uris import from_fs_path
        p = params.position
        loc = doc_for(params.text_document.uri).definition(p.line + 1, p.character + 1)
        if loc is None:
            return None
        return t.Location(uri=from_fs_path(loc.path), range=rng(loc.line, loc.column, loc.end_line, loc.end_column))

    kinds = {"keyword": t.CompletionItemKind.Property, "layer": t.CompletionItemKind.Class,
             "block": t.CompletionItemKind.Function, "model": t.CompletionItemKind.Module}

    @ls.feature(t.TEXT_DOCUMENT_COMPLETION, t.CompletionOptions(trigger_characters=["(", ",", ">"]))
    def completion(params: t.CompletionParams):
        td = ls.workspace.get_text_document(params.text_document.uri)
        doc = docs.get(params.text_document.uri)
        if doc is None or doc.text != td.source:
            doc = Document(td.source, td.path or "untitled.nnd")
        p = params.position
        items = [t.CompletionItem(label=label, kind=kinds[kind], detail=detail or None, sort_text=f"{i:04d}")
                 for i, (label, kind, detail) in enumerate(doc.completions(p.line + 1, p.character + 1))]
        return t.CompletionList(is_incomplete=False, items=items)

    @ls.feature(t.TEXT_DOCUMENT_FORMATTING)
    def formatting(params: t.DocumentFormattingParams):
        from .fmt import format_text
        from .parser import ParseError
        td = ls.workspace.get_text_document(params.text_document.uri)
        try:
            new = format_text(td.source, td.path or "untitled.nnd")
        except ParseError:
            return []   # the diagnostics already say why
        if new == td.source:
            return []
        lines = td.source.split("\n")
        end = t.Position(len(lines) - 1, len(lines[-1]))
        return [t.TextEdit(range=t.Range(t.Position(0, 0), end), new_text=new)]

    return ls
