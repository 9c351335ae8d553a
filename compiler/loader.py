"""Reading a program: the root file and, transitively, what it imports.

`import std.NAME` reads stdlib/NAME.nnd (package data); `import "path.nnd"`
reads a file relative to the importing one, which must stay inside the
project directory (the root file's directory) unless outside imports are
allowed. Each file is parsed once; an import cycle is an error. A file can
read nothing else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from . import ast
from .diagnostics import CompileError, Diagnostic, Sources, Span, error
from .parser import ParseError, normalize_newlines, parse

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_IMPORT_DEPTH = 64


@dataclass
class Module:
    key: str                 # 'std:resnet' or an absolute path
    display: str             # how diagnostics name it
    program: ast.Program | None
    imports: list["Module"] = field(default_factory=list)
    env: dict = field(default_factory=dict)   # filled by the elaborator


class Loader:
    def __init__(self, sources: Sources, diags: list[Diagnostic], allow_outside: bool = False):
        self.sources = sources
        self.diags = diags
        self.allow_outside = allow_outside
        self.modules: dict[str, Module] = {}
        self._stack: list[str] = []
        self.root_dir = ""

    def load_root(self, path: str) -> Module | None:
        self.root_dir = os.path.dirname(os.path.abspath(path))
        try:
            data = _read_bytes(path)
        except OSError as e:
            self.diags.append(Diagnostic("E0004", f"cannot read `{path}`: {e.strerror or e}", None))
            return None
        text = self._decode(data, path)
        if text is None:
            return None
        return self._load(os.path.abspath(path), path, text)

    def _decode(self, data: bytes, display: str) -> str | None:
        """UTF-8 text, or None after reporting where the first bad byte is."""
        try:
            text = data.decode("utf-8")
            return text[1:] if text.startswith("\ufeff") else text   # a byte-order mark is no character
        except UnicodeDecodeError as e:
            good = normalize_newlines(data[:e.start].decode("utf-8"))
            line = good.count("\n") + 1
            col = len(good) - (good.rfind("\n") + 1) + 1
            # Keep the text for rendering, with the bad bytes replaced.
            self.sources.add(display, normalize_newlines(data.decode("utf-8", errors="replace")))
            self.diags.append(Diagnostic("E0005", f"`{display}` is not valid UTF-8 (byte 0x{data[e.start]:02x})",
                                         Span(display, line, col, line, col + 1),
                                         help="save the file as UTF-8"))
            return None

    def load_text(self, text: str, display: str = "<input>") -> Module | None:
        self.root_dir = os.getcwd()
        return self._load(os.path.abspath(display), display, text)

    def _load(self, key: str, display: str, text: str) -> Module | None:
        text = normalize_newlines(text)   # the parser's and the rendering's lines agree
        self.sources.add(display, text)
        try:
            program = _parse_cached(text, display)
        except ParseError as e:
            self.diags.append(e.diagnostic)
            program = None
        mod = Module(key, display, program)
        self.modules[key] = mod
        if program is None:
            return mod
        self._stack.append(key)
        for item in program.items:
            if isinstance(item, ast.Import):
                try:
                    dep = self._import(item, mod)
                except CompileError as e:
                    self.diags.append(e.diagnostic)
                    continue
                if dep is not None:
                    mod.imports.append(dep)
        self._stack.pop()
        return mod

    def _import(self, item: ast.Import, importer: Module) -> Module | None:
        if item.is_file:
            bad = _invalid_path_char(item.module)
            if bad is not None:
                raise error("E0004", f"cannot read `{_shown(item.module)}`: the path is not valid "
                            f"(it contains {bad})", item.span,
                            help="a path cannot contain NUL, control characters or lone surrogates")
            base = os.path.dirname(importer.key) if not importer.key.startswith("std:") else self.root_dir
            key = os.path.normpath(os.path.join(base, item.module))
            if not self.allow_outside and not _inside(key, self.root_dir):
                raise error("E0112", f"`{item.module}` is outside the project directory", item.span,
                            help="imports are resolved inside the root file's directory; "
                                 "pass --allow-outside-imports to lift this")
            display = os.path.relpath(key) if not os.path.isabs(importer.display) else key
        else:
            name = item.module
            if not name.startswith("std."):
                raise error("E0110", f"cannot import `{name}`", item.span,
                            help=f'the standard library is `import std.NAME`; a file is `import "{name}.nnd"`')
            key = "std:" + name[4:]
            display = "std/" + name[4:].replace(".", "/") + ".nnd"
        if key in self._stack:
            chain = self._stack[self._stack.index(key):] + [key]
            names = " -> ".join(self.modules[k].display if k in self.modules else k for k in chain)
            raise error("E0111", f"import cycle: {names}", item.span)
        if key in self.modules:
            return self.modules[key]
        if len(self._stack) >= MAX_IMPORT_DEPTH:
            raise error("E0119", f"imports nest more than {MAX_IMPORT_DEPTH} files deep", item.span)
        try:
            if key.startswith("std:"):
                data = _read_std(key[4:]).encode("utf-8")
            else:
                data = _read_bytes(key)
        except IsADirectoryError:
            raise error("E0004", f"cannot read `{item.module}`: it is a directory", item.span,
                        help="import a .nnd file") from None
        except OSError as e:
            if os.path.exists(key) and not key.startswith("std:"):
                raise error("E0004", f"cannot read `{item.module}`: {e.strerror or e}", item.span) from None
            raise self._not_found(item, key) from None
        except ModuleNotFoundError:
            raise self._not_found(item, key) from None
        text = self._decode(data, display)
        if text is None:
            self.modules[key] = Module(key, display, None)
            return None
        return self._load(key, display, text)

    def _not_found(self, item: ast.Import, key: str):
        hint = None
        if key.startswith("std:"):
            from difflib import get_close_matches
            known = list_std()
            close = get_close_matches(key[4:], known, n=1)
            hint = f"did you mean `std.{close[0]}`?" if close else \
                "the standard library has: " + ", ".join(f"std.{k}" for k in known)
        return error("E0110", f"cannot find `{item.module}`", item.span, help=hint)


@lru_cache(maxsize=64)
def _parse_cached(text: str, display: str) -> ast.Program:
    """Parsing is most of a check's time; a process that checks many files
    (an editor, a test suite) parses each unchanged file, the standard
    library's above all, once. The syntax tree is never modified."""
    return parse(text, display)


def _invalid_path_char(path: str) -> str | None:
    """What makes `path` no file name (NUL, a control character, a lone
    surrogate: the OS refuses some, and none can be typed), or None."""
    for ch in path:
        o = ord(ch)
        if o == 0:
            return "a NUL character"
        if o < 32 or o == 127:
            return f"the control character U+{o:04X}"
        if 0xD800 <= o <= 0xDFFF:
            return f"the lone surrogate U+{o:04X}"
    return None


def _shown(path: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in path)


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([os.path.realpath(path), os.path.realpath(root)]) == os.path.realpath(root)
    except ValueError:
        return False


def _read_bytes(path: str) -> bytes:
    """A regular file's bytes (a device, FIFO or socket is refused before it
    is opened, so that reading cannot hang)."""
    import stat
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(21, "it is a directory", path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(0, "not a regular file")
    if st.st_size > MAX_FILE_BYTES:
        raise OSError(0, f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    with open(path, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise OSError(0, f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    return data


def _read(path: str) -> str:
    return _read_bytes(path).decode("utf-8")


def _read_std(name: str) -> str:
    if not all(part.isidentifier() for part in name.split(".")):
        raise FileNotFoundError(name)
    return resources.files("nnd.stdlib").joinpath(*name.split(".")[:-1], name.split(".")[-1] + ".nnd") \
        .read_text(encoding="utf-8")


def list_std() -> list[str]:
    return sorted(p.name[:-4] for p in resources.files("nnd.stdlib").iterdir() if p.name.endswith(".nnd"))
