"""Where nnd keeps its caches: the parser's tables and optimized sessions.

`$NND_CACHE_DIR`, else `$XDG_CACHE_HOME/nnd`, else `~/.cache/nnd`. Caches are
only ever an optimization: when the directory cannot be made or written,
everything still works, just slower. `NND_CACHE_DIR=off` disables them.
What is cached there is loaded as code (lark's tables are a pickle), so a
directory is used only if it belongs to this user and nobody else can write
to it.
"""

from __future__ import annotations

import os


def cache_dir(sub: str = "") -> str | None:
    """The cache directory (created), or None when caching is off or impossible."""
    base = os.environ.get("NND_CACHE_DIR")
    if base is not None and base.strip().lower() in ("", "0", "off", "none"):
        return None
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "nnd")
    path = os.path.join(base, sub) if sub else base
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.stat(path)
    except OSError:
        return None
    if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
        return None
    return path if os.access(path, os.W_OK) else None
