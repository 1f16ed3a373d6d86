"""The agent memory system: chunked text blocks, hybrid search, Numba vector kernels.

Public API (used by the agent runtime)::

    cfg = MemoryConfig.from_options({"block-size": 512, "overlap": 50, "dim": 384})
    store = MemoryStore(cfg)
    ids = store.apply(store.prepare_add("text", now=t, id_prefix="m1"))
    hits = store.search("question", k=5, now=t)

Mutations are payloads (`prepare_*`/`plan_*` compute them, `apply` applies
them) so that they can be written to a log and replayed. See docs/memory.md.
"""

# _numba_env must run before anything imports numba: it points Numba's cache
# at a per-user directory outside agent data (see its docstring).
from o_lisp.memory import _numba_env
from o_lisp.memory._config import KINDS, MemoryConfig, SearchWeights
from o_lisp.memory._embedders import Embedder, HashingEmbedder, HTTPEmbedder, make_embedder
from o_lisp.memory._errors import (
    MemoryConfigError,
    MemoryEmbedderError,
    MemoryPayloadError,
    MemorySearchError,
    MemorySystemError,
)
from o_lisp.memory._store import Block, MemoryStore, SearchHit

CACHE_DIR = _numba_env.CACHE_DIR

__all__ = [
    "CACHE_DIR",
    "KINDS",
    "Block",
    "Embedder",
    "HTTPEmbedder",
    "HashingEmbedder",
    "MemoryConfig",
    "MemoryConfigError",
    "MemoryEmbedderError",
    "MemoryPayloadError",
    "MemorySearchError",
    "MemoryStore",
    "MemorySystemError",
    "SearchHit",
    "SearchWeights",
    "make_embedder",
]
