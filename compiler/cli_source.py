"""The source a command names: a .nnd file, or `-` for standard input
(read once, before the command runs). Shared by cli.py and cli_info.py."""

from __future__ import annotations

from . import api

STDIN = "<stdin>"   # how diagnostics name a source read from `-`


def _check(args, path):
    """Check `path`, or the source read from standard input for `-`."""
    text = args.stdin_text if path == "-" else None
    return api.check(STDIN if text is not None else path, text=text, model=args.model,
                     params=dict(args.param), allow_outside=args.allow_outside_imports)


def _shown(path: str) -> str:
    return STDIN if path == "-" else path


def _io_error(res) -> bool:
    return any(d.code == "E0004" and d.span is None for d in res.diagnostics)
