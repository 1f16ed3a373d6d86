"""The memory store: blocks, hybrid search, and mutations as replayable payloads.

Every mutation goes through `MemoryStore.apply(payload)`, where a payload is a
plain msgpack-able dict ``{"op": ..., ...}``. The ``prepare_*``/``plan_*``
methods only *compute* payloads; they never change the store. This split is
what makes the store replayable from a write-ahead log: everything that is not
a pure function of the store (the clock, ids, HTTP embeddings) is decided when
the payload is prepared, recorded in it, and applying the same payloads to the
same state always yields the same state.

Searching never mutates: access counts change only through an explicit
``memory_touch`` payload (`plan_touch`), so a search can be repeated, shadow
tested or run on a read-only replica.
"""

from __future__ import annotations

import copy
import gc
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from o_lisp.memory import _kernels
from o_lisp.memory._config import KINDS, MemoryConfig, SearchWeights
from o_lisp.memory._embedders import Embedder, make_embedder
from o_lisp.memory._errors import (
    MemoryConfigError,
    MemoryPayloadError,
    MemorySearchError,
)
from o_lisp.memory._text import BM25Index, chunk_text

Array = np.ndarray[Any, Any]

DATA_FORMAT = "o_lisp.memory/1"
OPS = ("memory_add", "memory_touch", "memory_consolidate", "memory_forget", "memory_set_weights")
#: Each scorer proposes this many candidates (at least; 4×k when k is larger) to the hybrid ranking.
MIN_CANDIDATES = 32


@dataclass(frozen=True, eq=False)
class Block:
    """One stored block. ``embedding`` is a read-only float32 vector (L2-normalised or zero)."""

    id: str
    text: str
    embedding: Array
    metadata: dict[str, Any]
    importance: float
    access_count: int
    created: float
    kind: str
    last_accessed: float | None = None


@dataclass(frozen=True)
class SearchHit:
    """A search result; ``score = Σ weights[c] × components[c]``, each component in [0, 1]."""

    id: str
    score: float
    text: str
    metadata: dict[str, Any]
    components: dict[str, float] = field(default_factory=dict)
    kind: str = "short_term"


def _check_metadata(value: Any, where: str, depth: int = 0) -> None:
    """Metadata must survive msgpack unchanged: no tuples, no non-str keys, no NaN surprises."""
    if depth > 32:
        raise MemoryPayloadError(f"{where}: nested too deeply")
    if value is None or isinstance(value, bool | int | str | bytes):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MemoryPayloadError(f"{where}: non-finite float {value!r}")
        return
    if isinstance(value, list):
        for item in value:
            _check_metadata(item, where, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise MemoryPayloadError(f"{where}: keys must be strings, got {key!r}")
            _check_metadata(item, where, depth + 1)
        return
    raise MemoryPayloadError(
        f"{where}: {type(value).__name__} is not allowed (use None, bool, int, float, str, "
        "bytes, list, dict)"
    )


_ATOMIC = frozenset({type(None), bool, int, float, str, bytes})
_BLOCK_FIELDS = frozenset({"id", "text", "embedding", "metadata", "importance", "kind", "created",
                           "access_count", "last_accessed"})


def _copy_metadata(value: Any) -> Any:
    """A deep copy of checked metadata (plain dicts, lists and scalars), much cheaper than
    `copy.deepcopy`; anything else (subclasses) still goes through `copy.deepcopy`."""
    t = type(value)
    if t in _ATOMIC:
        return value
    if t is dict:
        return {k: _copy_metadata(v) for k, v in value.items()}
    if t is list:
        return [_copy_metadata(v) for v in value]
    return copy.deepcopy(value)


def _checked_metadata_copy(metadata: dict[str, Any]) -> dict[str, Any]:
    """`_check_metadata` then `_copy_metadata` of a block's metadata dict, with a fast path for
    the usual flat dict of str keys and scalar values (whose shallow copy is a deep copy)."""
    for key, value in metadata.items():
        t = type(value)
        if type(key) is not str or not (
            t is str or t is int or t is bool or value is None or t is bytes
            or (t is float and math.isfinite(value))
        ):
            _check_metadata(metadata, "metadata")
            return dict(_copy_metadata(metadata))
    return dict(metadata)


def _finite(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MemoryPayloadError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def _importance(value: Any, where: str) -> float:
    v = _finite(value, where)
    if not 0.0 <= v <= 1.0:
        raise MemoryPayloadError(f"{where} must be in [0, 1], got {value!r}")
    return v


def _ids(payload: Mapping[str, Any]) -> list[str]:
    ids = payload.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise MemoryPayloadError(f"{payload.get('op')}: 'ids' must be a list of strings")
    if len(set(ids)) != len(ids):
        raise MemoryPayloadError(f"{payload.get('op')}: duplicate ids")
    return ids


class MemoryStore:
    """Blocks of text with embeddings, searched by a hybrid vector/keyword/recency/importance score.

    Rows of the embedding matrix follow insertion order; forgetting compacts
    the matrix. With ``config.quantize`` an int8 copy of the matrix (per-row
    scale) is kept and used to *propose* vector candidates; the vector
    component of every returned hit is still the exact float32 cosine.
    """

    def __init__(self, config: MemoryConfig, embedder: Embedder | None = None) -> None:
        if not isinstance(config, MemoryConfig):
            raise MemoryConfigError("config", f"expected a MemoryConfig, got {type(config).__name__}")
        self.config = config
        self._weights = config.weights
        self._embedder = embedder if embedder is not None else make_embedder(config.embedder, config.dim)
        if self._embedder.dim != config.dim:
            raise MemoryConfigError(
                "dim", f"embedder produces {self._embedder.dim} dimensions, config says {config.dim}"
            )
        self._blocks: dict[str, Block] = {}
        self._row: dict[str, int] = {}
        self._order: list[str] = []
        self._matrix = np.zeros((16, config.dim), np.float32)
        self._kinds = np.zeros(16, np.uint8)
        self._q8 = np.zeros((16, config.dim), np.int8) if config.quantize else None
        self._scales = np.zeros(16, np.float32) if config.quantize else None
        # None: not built yet (after `from_data`); `_keyword_index` builds it on first use.
        self._bm25: BM25Index | None = BM25Index()

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, block_id: object) -> bool:
        return block_id in self._blocks

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MemoryStore):
            return NotImplemented
        return self.to_data() == other.to_data()

    __hash__ = None  # type: ignore[assignment]

    @property
    def weights(self) -> SearchWeights:
        """The current hybrid weights (evolvable through a ``memory_set_weights`` payload)."""
        return self._weights

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    def ids(self, kind: str | None = None) -> list[str]:
        """Block ids in insertion order, optionally of one kind."""
        if kind is not None:
            self._check_kind(kind)
            return [i for i in self._order if self._blocks[i].kind == kind]
        return list(self._order)

    def get(self, block_id: str) -> Block | None:
        """The block with this id (metadata is a copy: mutating it does not touch the store)."""
        block = self._blocks.get(block_id)
        if block is None:
            return None
        return Block(
            block.id,
            block.text,
            block.embedding,
            copy.deepcopy(block.metadata),
            block.importance,
            block.access_count,
            block.created,
            block.kind,
            block.last_accessed,
        )

    def stats(self) -> dict[str, Any]:
        """Counts and sizes, for tools and dashboards."""
        by_kind = {k: 0 for k in KINDS}
        chars = 0
        for block in self._blocks.values():
            by_kind[block.kind] += 1
            chars += len(block.text)
        n = len(self._order)
        return {
            "name": self.config.name,
            "blocks": n,
            "by_kind": by_kind,
            "dim": self.config.dim,
            "quantized": self.config.quantize,
            "vocabulary": self._keyword_index().vocabulary,
            "chars": chars,
            "matrix_bytes": int(n * self.config.dim * 4 + (n * (self.config.dim + 4) if self._q8 is not None else 0)),
            "weights": self._weights.to_dict(),
        }

    # ------------------------------------------------------------------ planning (pure)

    def prepare_add(
        self,
        text: str,
        metadata: Mapping[str, Any] | None = None,
        importance: float = 0.5,
        kind: str = "short_term",
        *,
        now: float,
        id_prefix: str,
    ) -> dict[str, Any]:
        """Chunk and embed ``text``; return a ``memory_add`` payload (the store is unchanged).

        Block ids are ``f"{id_prefix}-{i}"``. The embeddings are computed here
        (the HTTP embedder is the non-deterministic part) and carried in the
        payload as float32 little-endian bytes, so applying it never calls out.
        """
        if not isinstance(text, str):
            raise MemoryPayloadError(f"text must be a string, got {type(text).__name__}")
        if not text.strip():
            raise MemoryPayloadError("text is empty")
        if not isinstance(id_prefix, str) or not id_prefix:
            raise MemoryPayloadError("id_prefix must be a non-empty string")
        meta = _checked_metadata_copy(dict(metadata)) if metadata is not None else {}
        importance = _importance(importance, "importance")
        self._check_kind(kind, MemoryPayloadError)
        now = _finite(now, "now")
        chunks = chunk_text(text, self.config.block_size, self.config.overlap)
        ids = [f"{id_prefix}-{i}" for i in range(len(chunks))]
        for block_id in ids:
            if block_id in self._blocks:
                raise MemoryPayloadError(f"memory_add: block id {block_id!r} already exists")
        vectors = self._embedder.embed(chunks)
        return {
            "op": "memory_add",
            "blocks": [
                {
                    "id": block_id,
                    "text": chunk,
                    "embedding": np.asarray(vec, dtype="<f4").tobytes(),
                    "metadata": meta if len(ids) == 1 else _copy_metadata(meta),
                    "importance": importance,
                    "kind": kind,
                    "created": now,
                }
                for block_id, chunk, vec in zip(ids, chunks, vectors, strict=True)
            ],
        }

    def plan_touch(self, ids: Sequence[str], now: float) -> dict[str, Any]:
        """A ``memory_touch`` payload: each block's access count +1, last access = ``now``."""
        ids = list(ids)
        for block_id in ids:
            self._require(block_id, "memory_touch")
        return {"op": "memory_touch", "ids": ids, "now": _finite(now, "now")}

    def plan_consolidate(self, now: float) -> dict[str, Any]:
        """Short-term blocks with importance >= consolidate_importance or accesses >=
        consolidate_accesses become long-term (``memory_consolidate`` payload)."""
        cfg = self.config
        ids = [
            i
            for i in self._order
            if self._blocks[i].kind == "short_term"
            and (
                self._blocks[i].importance >= cfg.consolidate_importance
                or self._blocks[i].access_count >= cfg.consolidate_accesses
            )
        ]
        return {"op": "memory_consolidate", "ids": ids, "kind": "long_term", "now": _finite(now, "now")}

    def plan_forget(self, now: float) -> dict[str, Any]:
        """The forgetting rule, as a ``memory_forget`` payload (see docs/memory.md).

        Only *forgettable* blocks are ever removed: kind short_term,
        access_count == 0 and importance < forget_below_importance. Of those,
        (1) every block with ``now - created >= forget_after_s`` is removed;
        (2) then, while more than ``short_term_capacity`` short-term blocks
        remain, the oldest remaining forgettable blocks are removed (ties by
        insertion order). Important or accessed blocks are never forgotten:
        they wait for consolidation, so capacity is a soft limit.
        """
        now = _finite(now, "now")
        cfg = self.config
        short = [i for i in self._order if self._blocks[i].kind == "short_term"]
        forgettable = [
            i
            for i in short
            if self._blocks[i].access_count == 0
            and self._blocks[i].importance < cfg.forget_below_importance
        ]
        doomed = {i for i in forgettable if now - self._blocks[i].created >= cfg.forget_after_s}
        excess = len(short) - len(doomed) - cfg.short_term_capacity
        if excess > 0:
            rest = sorted(
                (i for i in forgettable if i not in doomed),
                key=lambda i: (self._blocks[i].created, self._row[i]),
            )
            doomed.update(rest[:excess])
        return {"op": "memory_forget", "ids": [i for i in self._order if i in doomed], "now": now}

    def plan_set_weights(self, weights: Mapping[str, Any] | SearchWeights) -> dict[str, Any]:
        """A ``memory_set_weights`` payload (validated now, so a bad proposal fails early)."""
        w = SearchWeights.from_mapping(weights) if not isinstance(weights, SearchWeights) else weights
        return {"op": "memory_set_weights", "weights": w.to_dict()}

    # ------------------------------------------------------------------ mutation

    def apply(self, payload: Mapping[str, Any]) -> Any:
        """Apply one mutation payload; all-or-nothing (a bad payload changes nothing).

        Returns: the added ids (``memory_add``), the touched / consolidated /
        forgotten ids, or the new weights dict (``memory_set_weights``).
        """
        if not isinstance(payload, Mapping):
            raise MemoryPayloadError(f"payload must be a mapping, got {type(payload).__name__}")
        op = payload.get("op")
        if op == "memory_add":
            return self._apply_add(payload)
        if op == "memory_touch":
            return self._apply_touch(payload)
        if op == "memory_consolidate":
            return self._apply_consolidate(payload)
        if op == "memory_forget":
            return self._apply_forget(payload)
        if op == "memory_set_weights":
            weights = payload.get("weights")
            if not isinstance(weights, Mapping):
                raise MemoryPayloadError("memory_set_weights: 'weights' must be a mapping")
            try:
                self._weights = SearchWeights.from_mapping(weights)
            except MemoryConfigError as error:
                raise MemoryPayloadError(f"memory_set_weights: {error}") from None
            return self._weights.to_dict()
        raise MemoryPayloadError(f"unknown memory operation {op!r} (expected one of {list(OPS)})")

    def _decode_block(self, raw: Any, seen: set[str]) -> Block:
        if not isinstance(raw, Mapping):
            raise MemoryPayloadError("memory_add: each block must be a mapping")
        extra = set(raw) - _BLOCK_FIELDS
        if extra:
            raise MemoryPayloadError(f"memory_add: unknown block field(s) {sorted(extra)}")
        block_id = raw.get("id")
        if not isinstance(block_id, str) or not block_id:
            raise MemoryPayloadError("memory_add: block 'id' must be a non-empty string")
        if block_id in self._blocks or block_id in seen:
            raise MemoryPayloadError(f"memory_add: block id {block_id!r} already exists")
        seen.add(block_id)
        text = raw.get("text")
        if not isinstance(text, str) or not text:
            raise MemoryPayloadError(f"memory_add: block {block_id!r}: 'text' must be a non-empty string")
        emb = raw.get("embedding")
        dim = self.config.dim
        if isinstance(emb, bytes | bytearray):
            if len(emb) != 4 * dim:
                raise MemoryPayloadError(
                    f"memory_add: block {block_id!r}: embedding has {len(emb)} bytes, expected {4 * dim}"
                )
            vec = np.frombuffer(bytes(emb), dtype="<f4").astype(np.float32)
        elif isinstance(emb, list):
            if len(emb) != dim:
                raise MemoryPayloadError(
                    f"memory_add: block {block_id!r}: embedding has {len(emb)} numbers, expected {dim}"
                )
            vec = np.array([_finite(x, "embedding value") for x in emb], dtype=np.float32)
        else:
            raise MemoryPayloadError(f"memory_add: block {block_id!r}: 'embedding' must be bytes or a list")
        if not np.all(np.isfinite(vec)):
            raise MemoryPayloadError(f"memory_add: block {block_id!r}: non-finite embedding")
        norm = float(np.linalg.norm(vec))
        if norm != 0.0 and abs(norm - 1.0) > 1e-3:
            raise MemoryPayloadError(
                f"memory_add: block {block_id!r}: embedding must be L2-normalised (norm {norm:.4f})"
            )
        vec.setflags(write=False)
        metadata = raw.get("metadata", {})
        if not isinstance(metadata, dict):
            raise MemoryPayloadError(f"memory_add: block {block_id!r}: 'metadata' must be a dict")
        _check_metadata(metadata, f"memory_add: block {block_id!r}: metadata")
        kind = raw.get("kind", "short_term")
        self._check_kind(kind, MemoryPayloadError)
        access = raw.get("access_count", 0)
        if isinstance(access, bool) or not isinstance(access, int) or access < 0:
            raise MemoryPayloadError(f"memory_add: block {block_id!r}: bad access_count {access!r}")
        last = raw.get("last_accessed")
        return Block(
            id=block_id,
            text=text,
            embedding=vec,
            metadata=_copy_metadata(metadata),
            importance=_importance(raw.get("importance", 0.5), f"block {block_id!r} importance"),
            access_count=access,
            created=_finite(raw.get("created"), f"block {block_id!r} created"),
            kind=kind,
            last_accessed=None if last is None else _finite(last, f"block {block_id!r} last_accessed"),
        )

    def _decode_blocks_fast(self, raw_blocks: list[Any]) -> tuple[list[Block], Array] | None:
        """The blocks of a ``memory_add`` and their embeddings as one (n, dim) float32 matrix.

        The optimistic bulk path: the same checks as `_decode_block`, but the
        embeddings are decoded from one joined buffer and checked (finite,
        L2 norm) with whole-matrix array operations. It returns None at the
        first irregularity (including anything merely unusual, such as list
        embeddings or subclasses of dict/str); the caller then reruns the
        exact per-block path, which raises the same error as always.
        """
        dim = self.config.dim
        nbytes = 4 * dim
        existing = self._blocks
        seen: set[str] = set()
        embeddings: list[bytes | bytearray] = []
        fields: list[tuple[str, str, dict[str, Any], float, int, float, str, float | None]] = []
        try:
            for raw in raw_blocks:
                if type(raw) is not dict or not raw.keys() <= _BLOCK_FIELDS:
                    return None
                block_id = raw.get("id")
                if type(block_id) is not str or not block_id or block_id in existing or block_id in seen:
                    return None
                seen.add(block_id)
                text = raw.get("text")
                emb = raw.get("embedding")
                if type(text) is not str or not text or not isinstance(emb, bytes | bytearray) or len(emb) != nbytes:
                    return None
                embeddings.append(emb)
                metadata = raw.get("metadata", {})
                if type(metadata) is not dict:
                    return None
                metadata = _checked_metadata_copy(metadata)
                kind = raw.get("kind", "short_term")
                if type(kind) is not str or kind not in KINDS:
                    return None
                access = raw.get("access_count", 0)
                if type(access) is not int or access < 0:
                    return None
                last = raw.get("last_accessed")
                fields.append((
                    block_id,
                    text,
                    metadata,
                    _importance(raw.get("importance", 0.5), "importance"),
                    access,
                    _finite(raw.get("created"), "created"),
                    kind,
                    None if last is None else _finite(last, "last_accessed"),
                ))
        except MemoryPayloadError:
            return None
        matrix = np.frombuffer(b"".join(embeddings), dtype="<f4").reshape(len(embeddings), dim)
        if matrix.dtype != np.float32:  # big-endian host
            matrix = matrix.astype(np.float32)
        # Norms in float64 are more exact than `_decode_block`'s float32 ones; rows whose norm is
        # not clearly within the tolerance (zero rows, rows near the edge) get the exact check.
        # A row with an infinite or NaN element has a non-finite norm (float32 squares cannot
        # overflow float64), so the same pass proves every element finite.
        margin = 1e-4 + 2.0 * dim * 2.0**-24
        near = 1e-3 - margin
        for row, norm64 in enumerate(np.sqrt(np.einsum("ij,ij->i", matrix, matrix, dtype=np.float64)).tolist()):
            if not math.isfinite(norm64):
                return None
            if abs(norm64 - 1.0) > near:
                norm = float(np.linalg.norm(matrix[row]))
                if norm != 0.0 and abs(norm - 1.0) > 1e-3:
                    return None
        matrix.setflags(write=False)  # rows are the blocks' read-only embeddings
        blocks = [
            Block(block_id, text, matrix[i], metadata, importance, access, created, kind, last)
            for i, (block_id, text, metadata, importance, access, created, kind, last) in enumerate(fields)
        ]
        return blocks, matrix

    def _apply_add(self, payload: Mapping[str, Any]) -> list[str]:
        raw_blocks = payload.get("blocks")
        if not isinstance(raw_blocks, list) or not raw_blocks:
            raise MemoryPayloadError("memory_add: 'blocks' must be a non-empty list")
        decoded = self._decode_blocks_fast(raw_blocks)
        if decoded is None:
            seen: set[str] = set()
            blocks = [self._decode_block(raw, seen) for raw in raw_blocks]  # validate all first
            matrix = np.stack([b.embedding for b in blocks])
        else:
            blocks, matrix = decoded
        start = len(self._order)
        end = start + len(blocks)
        self._reserve(end)
        self._matrix[start:end] = matrix
        self._kinds[start:end] = [KINDS.index(b.kind) for b in blocks]
        if self._q8 is not None and self._scales is not None:
            q, scales = _kernels.quantize_rows(matrix)
            self._q8[start:end] = q
            self._scales[start:end] = scales
        ids = [b.id for b in blocks]
        self._blocks.update(zip(ids, blocks, strict=True))
        self._row.update(zip(ids, range(start, end), strict=True))
        self._order.extend(ids)
        if self._bm25 is not None:  # else built from all blocks on the first keyword search
            for block in blocks:
                self._bm25.add(block.id, block.text)
        return ids

    def _apply_touch(self, payload: Mapping[str, Any]) -> list[str]:
        ids = _ids(payload)
        now = _finite(payload.get("now"), "memory_touch: now")
        for block_id in ids:
            self._require(block_id, "memory_touch")
        for block_id in ids:
            b = self._blocks[block_id]
            self._blocks[block_id] = Block(
                b.id, b.text, b.embedding, b.metadata, b.importance, b.access_count + 1,
                b.created, b.kind, now,
            )
        return ids

    def _apply_consolidate(self, payload: Mapping[str, Any]) -> list[str]:
        ids = _ids(payload)
        kind = payload.get("kind", "long_term")
        self._check_kind(kind, MemoryPayloadError)
        for block_id in ids:
            self._require(block_id, "memory_consolidate")
            if self._blocks[block_id].kind != "short_term":
                raise MemoryPayloadError(
                    f"memory_consolidate: block {block_id!r} is {self._blocks[block_id].kind}, not short_term"
                )
        for block_id in ids:
            b = self._blocks[block_id]
            self._blocks[block_id] = Block(
                b.id, b.text, b.embedding, b.metadata, b.importance, b.access_count,
                b.created, kind, b.last_accessed,
            )
            self._kinds[self._row[block_id]] = KINDS.index(kind)
        return ids

    def _apply_forget(self, payload: Mapping[str, Any]) -> list[str]:
        ids = _ids(payload)
        for block_id in ids:
            self._require(block_id, "memory_forget")
        if not ids:
            return []
        gone = set(ids)
        keep_rows = np.array([self._row[i] for i in self._order if i not in gone], dtype=np.int64)
        n = len(keep_rows)
        cap = max(16, n)
        self._matrix = _compact(self._matrix, keep_rows, cap)
        self._kinds = _compact(self._kinds, keep_rows, cap)
        if self._q8 is not None and self._scales is not None:
            self._q8 = _compact(self._q8, keep_rows, cap)
            self._scales = _compact(self._scales, keep_rows, cap)
        for block_id in ids:
            block = self._blocks.pop(block_id)
            if self._bm25 is not None:
                self._bm25.remove(block_id, block.text)
        self._order = [i for i in self._order if i not in gone]
        self._row = {block_id: row for row, block_id in enumerate(self._order)}
        return ids

    def _reserve(self, n: int) -> None:
        cap = self._matrix.shape[0]
        if n <= cap:
            return
        new_cap = max(n, 2 * cap)
        self._matrix = _grow(self._matrix, new_cap)
        self._kinds = _grow(self._kinds, new_cap)
        if self._q8 is not None and self._scales is not None:
            self._q8 = _grow(self._q8, new_cap)
            self._scales = _grow(self._scales, new_cap)

    def _keyword_index(self) -> BM25Index:
        """The BM25 index, built from the current blocks (in order) if it was deferred.

        Scores do not depend on the order blocks entered the index, so building
        it in one go later gives exactly the scores of the incremental index.
        """
        index = self._bm25
        if index is None:
            index = BM25Index()
            blocks = self._blocks
            index.add_many((block_id, blocks[block_id].text) for block_id in self._order)
            self._bm25 = index
        return index

    def _require(self, block_id: Any, op: str) -> None:
        if not isinstance(block_id, str) or block_id not in self._blocks:
            raise MemoryPayloadError(f"{op}: no block with id {block_id!r}")

    @staticmethod
    def _check_kind(kind: Any, error: type[Exception] = MemorySearchError) -> None:
        if kind not in KINDS:
            raise error(f"unknown memory kind {kind!r} (expected one of {list(KINDS)})")

    # ------------------------------------------------------------------ search

    def search(
        self, query: str, k: int = 5, kind: str | None = None, now: float | None = None
    ) -> list[SearchHit]:
        """The k best blocks for ``query`` by hybrid score (see `_rank`); never mutates.

        ``now`` (for recency) defaults to the wall clock; pass it for reproducible results.
        """
        return self.search_batch([query], k=k, kind=kind, now=now)[0]

    def search_batch(
        self,
        queries: Sequence[str],
        k: int = 5,
        kind: str | None = None,
        now: float | None = None,
    ) -> list[list[SearchHit]]:
        """`search` for many queries: one embedding call and one batched kernel pass."""
        if isinstance(queries, str) or not isinstance(queries, Sequence):
            raise MemorySearchError("queries must be a sequence of strings")
        for q in queries:
            if not isinstance(q, str):
                raise MemorySearchError(f"query must be a string, got {type(q).__name__}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise MemorySearchError(f"k must be an int >= 1, got {k!r}")
        if kind is not None:
            self._check_kind(kind)
        when = time.time() if now is None else _finite(now, "now")
        if not queries:
            return []
        n = len(self._order)
        if n == 0:
            return [[] for _ in queries]
        qvecs = self._embedder.embed(list(queries))
        mask = None
        allowed: list[str] | None = None
        if kind is not None:
            mask = (self._kinds[:n] == KINDS.index(kind)).astype(np.uint8)
            allowed = [i for i in self._order if self._blocks[i].kind == kind]
            if not allowed:
                return [[] for _ in queries]
        pool = max(MIN_CANDIDATES, 4 * k)
        if self._q8 is not None and self._scales is not None:
            if len(queries) == 1:
                vec_hits = [_kernels.topk_int8(self._q8[:n], self._scales[:n], qvecs[0], pool, mask)]
            else:
                vec_hits = _kernels.topk_int8_batch(self._q8[:n], self._scales[:n], qvecs, pool, mask)
        elif len(queries) == 1:
            vec_hits = [_kernels.topk_float32(self._matrix[:n], qvecs[0], pool, mask)]
        else:
            vec_hits = _kernels.topk_float32_batch(self._matrix[:n], qvecs, pool, mask)
        return [
            self._rank(query, qvecs[i], vec_hits[i][0], k, when, allowed, pool)
            for i, query in enumerate(queries)
        ]

    def _rank(
        self,
        query: str,
        qvec: Array,
        vec_rows: Array,
        k: int,
        now: float,
        allowed: list[str] | None,
        pool: int,
    ) -> list[SearchHit]:
        """Hybrid ranking over the union of the vector and keyword candidates.

        Candidates: the ``pool`` best rows by vector similarity that have a
        positive cosine, and the ``pool`` best blocks by BM25 (score > 0). A
        block with neither is never returned, however recent or important:
        recency and importance re-rank relevant memories, they do not make
        irrelevant ones relevant (a query without content words returns nothing). Components (all in [0, 1]):
        vector = max(0, cosine) computed exactly in float32; keyword = BM25 /
        best BM25 of this query; recency = 0.5 ** (age / half-life) with age
        measured from the last access (or creation); importance as stored.
        Ties are broken by insertion order.
        """
        keyword = self._keyword_index().scores(query, allowed)
        best_kw = sorted(keyword, key=lambda i: (-keyword[i], self._row[i]))[:pool]
        rows = {int(r) for r in vec_rows}
        if rows:
            probe = np.array(sorted(rows), dtype=np.int64)
            rows = {int(r) for r in probe[self._matrix[probe] @ qvec > 0]}
        rows |= {self._row[i] for i in best_kw}
        if not rows:
            return []
        order = np.array(sorted(rows), dtype=np.int64)
        cosines = self._matrix[order] @ qvec
        w = self._weights
        half = self.config.recency_half_life_s
        hits: list[tuple[float, int, SearchHit]] = []
        for row, cos in zip(order.tolist(), cosines.tolist(), strict=True):
            block = self._blocks[self._order[row]]
            seen = block.created if block.last_accessed is None else max(block.created, block.last_accessed)
            comps = {
                "vector": max(0.0, min(1.0, float(cos))),
                "keyword": keyword.get(block.id, 0.0),
                "recency": 0.5 ** (max(0.0, now - seen) / half),
                "importance": block.importance,
            }
            score = (
                w.vector * comps["vector"]
                + w.keyword * comps["keyword"]
                + w.recency * comps["recency"]
                + w.importance * comps["importance"]
            )
            hit = SearchHit(block.id, score, block.text, copy.deepcopy(block.metadata), comps, block.kind)
            hits.append((-score, row, hit))
        hits.sort(key=lambda t: (t[0], t[1]))
        return [h for _, _, h in hits[:k]]

    # ------------------------------------------------------------------ serialisation

    def to_data(self) -> dict[str, Any]:
        """The whole store as msgpack-able data (embeddings as float32 little-endian bytes)."""
        return {
            "format": DATA_FORMAT,
            "config": self.config.to_options(),
            "weights": self._weights.to_dict(),
            "blocks": [
                {
                    "id": b.id,
                    "text": b.text,
                    "embedding": np.asarray(b.embedding, dtype="<f4").tobytes(),
                    "metadata": _copy_metadata(b.metadata),
                    "importance": b.importance,
                    "kind": b.kind,
                    "created": b.created,
                    "access_count": b.access_count,
                    "last_accessed": b.last_accessed,
                }
                for b in (self._blocks[i] for i in self._order)
            ],
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any], embedder: Embedder | None = None) -> MemoryStore:
        """Rebuild a store from `to_data` output; ``from_data(d).to_data() == d``."""
        if not isinstance(data, Mapping) or data.get("format") != DATA_FORMAT:
            raise MemoryPayloadError(f"not a serialized memory store (format must be {DATA_FORMAT!r})")
        options = data.get("config")
        if not isinstance(options, Mapping):
            raise MemoryPayloadError("serialized store has no 'config' mapping")
        store = cls(MemoryConfig.from_options(options), embedder)
        weights = data.get("weights")
        if weights is not None:
            store.apply({"op": "memory_set_weights", "weights": weights})
        blocks = data.get("blocks")
        if not isinstance(blocks, list):
            raise MemoryPayloadError("serialized store has no 'blocks' list")
        if blocks:
            store._bm25 = None  # re-tokenising every text is deferred to the first keyword search
            # The blocks built here hold no reference cycles: pausing the cyclic GC saves the
            # collections (a full one can take longer than the rest) that thousands of new
            # objects would otherwise trigger half-way through.
            paused = gc.isenabled()
            gc.disable()
            try:
                store.apply({"op": "memory_add", "blocks": blocks})
            finally:
                if paused:
                    gc.enable()
        return store


def _grow(array: Array, cap: int) -> Array:
    out = np.zeros((cap, *array.shape[1:]), dtype=array.dtype)
    out[: array.shape[0]] = array
    return out


def _compact(array: Array, keep_rows: Array, cap: int) -> Array:
    out = np.zeros((cap, *array.shape[1:]), dtype=array.dtype)
    out[: len(keep_rows)] = array[keep_rows]
    return out
