"""Input files of `nndc run` and `nndc bench`: `--input NAME=FILE.npy` and `--input FILE.npz`.

Every failure is a `UsageError` (one line, exit 2), never a traceback or a
hang: a path must be a regular file (a named pipe would block the open), a
header's shape must fit in the bytes that follow it (numpy would first try
to allocate what it claims), and object arrays are refused (loading them
runs pickle).
"""

from __future__ import annotations

import math
import os
import stat
import zipfile

import numpy as np

from .model import human_bytes


class UsageError(Exception):
    """Exit 2 with this one-line message."""


def not_regular(path: str) -> str | None:
    """Why `path` cannot be read as a file (None when it is a regular file),
    told without opening it."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "no such file"
    except OSError as e:
        return e.strerror or str(e)
    if stat.S_ISDIR(st.st_mode):
        return "it is a directory"
    if not stat.S_ISREG(st.st_mode):
        return "it is not a regular file (a named pipe, a socket or a device)"
    return None


def _read_npy(f, available: int, what: str) -> np.ndarray:
    """One .npy from the open binary file `f` holding `available` bytes."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            shape, fortran, dtype = np.lib.format._read_array_header(f, version)
    except (ValueError, EOFError, OSError, SyntaxError) as e:
        raise UsageError(f"{what}: not a valid .npy header: {e}") from None
    if dtype.hasobject:
        raise UsageError(f"{what}: holds an object array (Python objects); nndc does not load "
                         "pickled data: save numeric arrays")
    need = math.prod(shape) * dtype.itemsize
    left = available - f.tell()
    if need > left:
        raise UsageError(f"{what}: its header claims an array of {human_bytes(need)} "
                         f"({dtype} {list(shape)}) but the file holds {human_bytes(max(left, 0))}")
    try:
        f.seek(0)
        return np.lib.format.read_array(f, allow_pickle=False)
    except (ValueError, EOFError, OSError) as e:
        raise UsageError(f"{what}: cannot read the array: {e}") from None


def read_arrays(path: str, what: str) -> tuple[bool, dict]:
    """(is an .npz, {name: array}); a .npy's one array is under ''."""
    why = not_regular(path)
    if why:
        raise UsageError(f"{what}: cannot read {path}: {why}")
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            magic = f.read(6)
            if not magic:
                raise UsageError(f"{what}: {path} is empty")
            if magic.startswith(b"PK"):
                pass
            elif magic == b"\x93NUMPY":
                f.seek(0)
                return False, {"": _read_npy(f, size, f"{what}: {path}")}
            else:
                raise UsageError(f"{what}: {path} is not a .npy or .npz file")
        arrays = {}
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                with z.open(info) as member:
                    arrays[name] = _read_npy(member, info.file_size, f"{what}: {path}, array `{name}`")
        return True, arrays
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as e:
        raise UsageError(f"{what}: cannot read {path} as .npy or .npz: {e}") from None


def parse_inputs(specs: list[str]) -> dict:
    """`--input name=file.npy` (or `--input file.npz`: every array in it, by name)."""
    feeds: dict = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = None, spec
        elif not name:
            raise UsageError(f"--input {spec}: empty name; write --input NAME=FILE.npy")
        is_npz, arrays = read_arrays(path, f"--input {spec}")
        if is_npz and name is not None:
            if len(arrays) != 1:
                raise UsageError(f"--input {spec}: {path} holds {len(arrays)} arrays; "
                                 "pass it without NAME= to feed them by their names")
            arrays = {name: next(iter(arrays.values()))}
        elif not is_npz and name is not None:
            arrays = {name: arrays[""]}
        for k, a in arrays.items():
            if k in feeds:
                if k == "":
                    raise UsageError(f"--input {spec}: a second input without NAME=; "
                                     "name each: --input NAME=FILE.npy")
                raise UsageError(f"--input {spec}: input `{k}` is given twice")
            feeds[k] = a
    return feeds
