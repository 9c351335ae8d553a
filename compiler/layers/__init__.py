"""The layer catalogue. Each module here defines layer entries with
`@register` (see base.py); `load_all` imports them all, so adding a layer is
adding an entry to a module here, and nothing else."""

import importlib
import pkgutil

from .base import REGISTRY, Layer, register  # noqa: F401

_loaded = False


def load_all() -> dict:
    global _loaded
    if not _loaded:
        for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            if not m.name.startswith("_") and m.name not in ("base", "doc"):
                importlib.import_module(f"{__name__}.{m.name}")
        _loaded = True
    return REGISTRY
