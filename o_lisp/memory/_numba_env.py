"""Where Numba keeps its compiled-kernel cache, decided before Numba is imported.

Why this module exists: the vector kernels use ``cache=True`` so that a fresh
process does not pay JIT compilation on its first query. By default Numba
writes its cache into ``__pycache__`` next to the source file, or, when that is
not writable, into a directory it picks itself. Neither is acceptable here:

* the package directory may be read-only (site-packages) or shared;
* the cache must never live inside agent data (an agent's data directory,
  code repository, checkpoints): compiled machine code that the runtime loads
  and executes must not be somewhere an agent's actions could plant or alter a
  file. Agents have no file access through the sandbox, but keeping the cache
  out of their data is defence in depth and keeps checkpoints reproducible.

So the cache goes to a per-user directory: ``$NUMBA_CACHE_DIR`` if the user set
it (respected as is), else ``$XDG_CACHE_HOME/o_lisp/numba``, else
``~/.cache/o_lisp/numba``. The variable must be set before ``numba`` is
imported (Numba reads its configuration at import time); if Numba was
already imported by someone else, its configuration is reloaded.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def default_cache_dir() -> Path:
    """The per-user cache directory used when ``NUMBA_CACHE_DIR`` is not set."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "o_lisp" / "numba"


def configure_numba_cache() -> Path:
    """Set ``NUMBA_CACHE_DIR`` (unless the user did) and return the directory in force."""
    configured = os.environ.get("NUMBA_CACHE_DIR")
    if configured:
        path = Path(configured)
    else:
        path = default_cache_dir()
        os.environ["NUMBA_CACHE_DIR"] = str(path)
    path.mkdir(parents=True, exist_ok=True)
    if "numba" in sys.modules:  # imported before us: make it see the variable
        from numba.core import config

        config.reload_config()  # type: ignore[no-untyped-call]
    return path


CACHE_DIR = configure_numba_cache()
