"""MemoryStore: chunking, payloads, consolidation, forgetting, hybrid search, serialisation."""

from __future__ import annotations

import itertools
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from o_lisp.memory import (
    Block,
    MemoryConfig,
    MemoryPayloadError,
    MemorySearchError,
    MemoryStore,
    SearchWeights,
)
from o_lisp.memory._text import chunk_text

T0 = 1_700_000_000.0


def make(**options: Any) -> MemoryStore:
    return MemoryStore(MemoryConfig(**{"dim": 128, **options}))


def add(store: MemoryStore, text: str, prefix: str, now: float = T0, **kw: Any) -> list[str]:
    ids: list[str] = store.apply(store.prepare_add(text, now=now, id_prefix=prefix, **kw))
    return ids


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("ab cd\n\tefghij"), max_size=400),
    st.integers(1, 60),
    st.integers(0, 59),
)
@example("aaa aaaaaa", 9, 4)  # a short first block must not cut a word that fits a block
def test_chunks_cover_the_text_within_size(text: str, size: int, overlap: int) -> None:
    overlap = min(overlap, size - 1)
    chunks = chunk_text(text, size, overlap)
    assert all(0 < len(c) <= size and c == c.strip() for c in chunks)
    words = text.split()
    covered = " ".join(chunks).split()
    assert set(words) <= set(covered) or any(len(w) > size for w in words)
    pos = 0
    for c in chunks:  # chunks appear in order in the text
        found = text.find(c, max(0, pos - size))
        assert found >= 0
        pos = found
    if not text.strip():
        assert chunks == []


def test_chunking_prefers_whitespace_and_overlaps() -> None:
    text = " ".join(f"word{i:03d}" for i in range(100))  # 799 chars, 7-char words + space
    chunks = chunk_text(text, 80, 20)
    assert all(len(c) <= 80 for c in chunks)
    assert all(c.split()[0].startswith("word") and len(c.split()[0]) == 7 for c in chunks)
    assert all(len(w) == 7 for c in chunks for w in c.split())  # never cut inside a word
    assert chunks[1].split()[0] in chunks[0]  # overlap
    # A word longer than a block is cut hard; the overlap never restarts inside a word.
    assert chunk_text("x" * 25, 10, 3) == ["x" * 10, "x" * 10, "x" * 5]


def test_prepare_add_is_pure_and_payload_is_msgpackable() -> None:
    store = make(block_size=60, overlap=10)
    text = "Alpha beta gamma delta. " * 10
    payload = store.prepare_add(text, metadata={"src": "chat", "tags": ["a"]}, importance=0.8,
                                kind="episodic", now=T0, id_prefix="m42")
    assert len(store) == 0
    assert payload["op"] == "memory_add"
    blocks = payload["blocks"]
    assert [b["id"] for b in blocks] == [f"m42-{i}" for i in range(len(blocks))] and len(blocks) > 1
    assert all(isinstance(b["embedding"], bytes) and len(b["embedding"]) == 4 * 128 for b in blocks)
    wire = msgpack.unpackb(msgpack.packb(payload), raw=False)
    assert wire == payload
    assert store.apply(wire) == [b["id"] for b in blocks]
    block = store.get("m42-0")
    assert isinstance(block, Block)
    assert (block.kind, block.importance, block.access_count, block.created) == ("episodic", 0.8, 0, T0)
    assert block.metadata == {"src": "chat", "tags": ["a"]}
    assert block.embedding.dtype == np.float32 and abs(float(np.linalg.norm(block.embedding)) - 1) < 1e-5
    block.metadata["src"] = "mutated"
    assert store.get("m42-0").metadata["src"] == "chat"  # type: ignore[union-attr]
    assert store.get("nope") is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": "   "}, "empty"),
        ({"text": 3}, "string"),
        ({"importance": 1.5}, r"\[0, 1\]"),
        ({"kind": "forever"}, "unknown memory kind"),
        ({"metadata": {"t": (1, 2)}}, "tuple is not allowed"),
        ({"metadata": {1: "x"}}, "keys must be strings"),
        ({"now": float("nan")}, "finite"),
        ({"id_prefix": ""}, "id_prefix"),
    ],
)
def test_prepare_add_rejects_bad_input(kwargs: dict[str, Any], message: str) -> None:
    store = make()
    args: dict[str, Any] = {"text": "hello", "now": T0, "id_prefix": "m", **kwargs}
    text = args.pop("text")
    with pytest.raises(MemoryPayloadError, match=message):
        store.prepare_add(text, **args)


def test_bad_payloads_change_nothing() -> None:
    store = make()
    add(store, "first note", "a")
    before = store.to_data()
    good = store.prepare_add("second note", now=T0, id_prefix="b")
    bad_blocks = [dict(good["blocks"][0]), {**good["blocks"][0], "id": "a-0"}]  # 2nd duplicates
    cases: list[tuple[Any, str]] = [
        ({"op": "memory_add", "blocks": bad_blocks}, "already exists"),
        ({"op": "memory_add", "blocks": [{**good["blocks"][0], "embedding": b"xx"}]}, "bytes"),
        ({"op": "memory_add", "blocks": [{**good["blocks"][0], "embedding": [2.0] * 128}]}, "normalised"),
        ({"op": "memory_add", "blocks": [{**good["blocks"][0], "color": 1}]}, "unknown block field"),
        ({"op": "memory_add", "blocks": []}, "non-empty"),
        ({"op": "memory_touch", "ids": ["a-0", "zz"], "now": T0}, "no block with id 'zz'"),
        ({"op": "memory_forget", "ids": ["a-0", "a-0"]}, "duplicate"),
        ({"op": "memory_consolidate", "ids": ["zz"], "now": T0}, "no block"),
        ({"op": "memory_set_weights", "weights": {"vector": -1}}, ">= 0"),
        ({"op": "memory_explode"}, "unknown memory operation"),
        ("memory_add", "mapping"),
    ]
    for payload, message in cases:
        with pytest.raises(MemoryPayloadError, match=message):
            store.apply(payload)
        assert store.to_data() == before


def test_touch_consolidate_forget_rules() -> None:
    store = make(consolidate_importance=0.7, consolidate_accesses=2, forget_after_s=100.0,
                 forget_below_importance=0.3, short_term_capacity=3)
    add(store, "important fact", "imp", importance=0.9)
    add(store, "often used fact", "used", importance=0.5)
    add(store, "old trivia", "old", importance=0.1, now=T0 - 500)
    add(store, "old but accessed", "acc", importance=0.1, now=T0 - 500)
    add(store, "old but medium", "med", importance=0.5, now=T0 - 500)
    add(store, "fresh trivia one", "f1", importance=0.1, now=T0 - 10)
    add(store, "fresh trivia two", "f2", importance=0.1, now=T0 - 5)
    add(store, "semantic fact", "sem", importance=0.0, kind="semantic", now=T0 - 1000)
    assert store.apply(store.plan_touch(["used-0", "acc-0"], now=T0)) == ["used-0", "acc-0"]
    store.apply(store.plan_touch(["used-0"], now=T0 + 1))
    used = store.get("used-0")
    assert used is not None and (used.access_count, used.last_accessed) == (2, T0 + 1)

    plan = store.plan_consolidate(T0)
    assert plan["ids"] == ["imp-0", "used-0"]
    assert store.apply(plan) == ["imp-0", "used-0"]
    assert store.ids("long_term") == ["imp-0", "used-0"]
    with pytest.raises(MemoryPayloadError, match="not short_term"):
        store.apply({"op": "memory_consolidate", "ids": ["imp-0"], "now": T0})

    # short-term now: old, acc, med, f1, f2 (5 > capacity 3).
    # Rule 1 (age): old-0 (never accessed, unimportant, 500 s old). acc (accessed) and med
    # (importance 0.5) are kept. Rule 2 (capacity): 4 remain > 3, drop the oldest forgettable: f1.
    plan = store.plan_forget(T0)
    assert plan["ids"] == ["old-0", "f1-0"]
    assert len(store) == 8  # planning is pure
    assert store.apply(plan) == ["old-0", "f1-0"]
    assert store.ids() == ["imp-0", "used-0", "acc-0", "med-0", "f2-0", "sem-0"]
    assert store.plan_forget(T0)["ids"] == []  # capacity: acc, med, f2 = 3
    assert store.stats()["by_kind"] == {"short_term": 3, "long_term": 2, "episodic": 0, "semantic": 1}
    # Search still sees the compacted matrix correctly.
    hits = store.search("semantic fact", k=1, now=T0)
    assert hits[0].id == "sem-0"


def corpus_store(**options: Any) -> MemoryStore:
    store = make(**options)
    notes = [
        "The cat sleeps on the warm windowsill every afternoon",
        "Quarterly revenue grew by twelve percent in Europe",
        "The database backup runs nightly at two in the morning",
        "Bob's favourite programming language is Haskell",
        "Remember to water the tomato plants on Tuesday",
    ]
    for i, note in enumerate(notes):
        add(store, note, f"n{i}", now=T0 + i)
    return store


def test_search_hybrid_components_and_no_mutation() -> None:
    store = corpus_store()
    before = store.to_data()
    hits = store.search("when does the database backup run?", k=3, now=T0 + 10)
    assert hits[0].id == "n2-0"
    top = hits[0]
    assert set(top.components) == {"vector", "keyword", "recency", "importance"}
    assert top.components["keyword"] == 1.0 and all(0 <= v <= 1 for v in top.components.values())
    w = store.weights
    expected = sum(getattr(w, name) * value for name, value in top.components.items())
    assert top.score == pytest.approx(expected)
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
    assert store.to_data() == before  # searching never mutates
    # No content words: zero vector, no keyword: nothing is relevant, nothing is returned.
    assert store.search("what is it and why?", k=3, now=T0) == []
    assert all(h.components["vector"] > 0 or h.components["keyword"] > 0
               for h in store.search("zzzz qqqq", k=5, now=T0))
    batch = store.search_batch(["database backup", "tomato plants", "cat windowsill"], k=2, now=T0 + 10)
    singles = [store.search(q, k=2, now=T0 + 10) for q in ["database backup", "tomato plants", "cat windowsill"]]
    assert [[h.id for h in hs] for hs in batch] == [[h.id for h in hs] for hs in singles]
    assert [hs[0].id for hs in batch] == ["n2-0", "n4-0", "n0-0"]


def test_weights_are_evolvable_and_change_ranking() -> None:
    store = corpus_store()
    # Two notes about the same topic: the newer one wins only when recency dominates.
    add(store, "Haskell is Bob's favourite language for compilers", "new", now=T0 + 1000)
    q = "Bob favourite language Haskell"
    keyword_first = store.search(q, k=2, now=T0 + 1000)
    result = store.apply(store.plan_set_weights({"vector": 0.0, "keyword": 0.0, "recency": 1.0, "importance": 0.0}))
    assert result == {"vector": 0.0, "keyword": 0.0, "recency": 1.0, "importance": 0.0}
    assert store.weights == SearchWeights(0.0, 0.0, 1.0, 0.0)
    recency_first = store.search(q, k=2, now=T0 + 1000)
    assert recency_first[0].id == "new-0"
    assert {h.id for h in keyword_first} == {h.id for h in recency_first} == {"n3-0", "new-0"}
    assert store.to_data()["weights"]["recency"] == 1.0


def test_kind_filter_and_quantized_store_agree() -> None:
    for quantize in (False, True):
        store = corpus_store(quantize=quantize)
        add(store, "The cat also likes the sofa", "ep", kind="episodic", now=T0)
        hits = store.search("cat", k=5, kind="episodic", now=T0)
        assert [h.id for h in hits] == ["ep-0"] and hits[0].kind == "episodic"
        assert {h.id for h in store.search("cat", k=2, now=T0)} == {"n0-0", "ep-0"}
        assert store.search("cat", kind="semantic", now=T0) == []
    exact = corpus_store().search("database backup at night", k=3, now=T0)
    approx = corpus_store(quantize=True).search("database backup at night", k=3, now=T0)
    assert [h.id for h in exact] == [h.id for h in approx]
    assert exact[0].components["vector"] == approx[0].components["vector"]  # exact rescoring


def test_search_bad_arguments() -> None:
    store = corpus_store()
    with pytest.raises(MemorySearchError, match="k must be"):
        store.search("x", k=0)
    with pytest.raises(MemorySearchError, match="unknown memory kind"):
        store.search("x", kind="dreams")
    with pytest.raises(MemorySearchError, match="sequence of strings"):
        store.search_batch("not a list")
    assert make().search("anything", now=T0) == []
    assert store.search_batch([], now=T0) == []


ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(["red apple pie", "blue sky " * 30, "green tea", "x"]),
                  st.sampled_from(["short_term", "long_term", "episodic"]), st.floats(0, 1)),
        st.tuples(st.just("touch"), st.integers(0, 20)),
        st.tuples(st.just("consolidate"), st.floats(0, 1e4)),
        st.tuples(st.just("forget"), st.floats(0, 1e6)),
        st.tuples(st.just("weights"), st.floats(0.01, 5), st.floats(0, 5)),
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(ops, st.booleans())
def test_to_data_round_trips_exactly_and_replay_is_deterministic(script: list[Any], quantize: bool) -> None:
    store = make(block_size=40, overlap=5, quantize=quantize, forget_after_s=50.0, short_term_capacity=4)
    log: list[dict[str, Any]] = []
    for step, op in enumerate(script):
        now = T0 + step * 10
        if op[0] == "add":
            payload = store.prepare_add(op[1], kind=op[2], importance=op[3], now=now, id_prefix=f"s{step}")
        elif op[0] == "touch":
            ids = store.ids()
            if not ids:
                continue
            payload = store.plan_touch([ids[op[1] % len(ids)]], now)
        elif op[0] == "consolidate":
            payload = store.plan_consolidate(now)
        elif op[0] == "forget":
            payload = store.plan_forget(now + op[1])
        else:
            payload = store.plan_set_weights({"vector": op[1], "keyword": op[2]})
        payload = msgpack.unpackb(msgpack.packb(payload), raw=False)
        store.apply(payload)
        log.append(payload)
    data = store.to_data()
    wire = msgpack.unpackb(msgpack.packb(data), raw=False)
    assert wire == data
    clone = MemoryStore.from_data(wire)
    assert clone.to_data() == data and clone == store
    replay = make(block_size=40, overlap=5, quantize=quantize, forget_after_s=50.0, short_term_capacity=4)
    for payload in log:
        replay.apply(payload)
    assert replay.to_data() == data
    if len(store):
        q = "apple tea sky"
        assert [(h.id, h.score) for h in clone.search(q, now=T0)] == [(h.id, h.score) for h in store.search(q, now=T0)]


def test_from_data_rejects_garbage() -> None:
    with pytest.raises(MemoryPayloadError, match="format"):
        MemoryStore.from_data({"blocks": []})
    data = corpus_store().to_data()
    data["blocks"][0]["embedding"] = b"\x00" * 3
    with pytest.raises(MemoryPayloadError, match="bytes"):
        MemoryStore.from_data(data)


def test_stats_and_len() -> None:
    store = corpus_store(quantize=True)
    stats = store.stats()
    assert len(store) == stats["blocks"] == 5
    assert stats["quantized"] is True and stats["vocabulary"] > 10
    assert "n0-0" in store


def _f32(values: list[float], dim: int = 128) -> bytes:
    return np.asarray(values + [0.0] * (dim - len(values)), dtype="<f4").tobytes()


@pytest.mark.parametrize(
    ("index", "change", "message"),
    [
        (2, {"embedding": _f32([float("nan"), 1.0])}, "block 'n2-0': non-finite embedding"),
        (2, {"embedding": _f32([float("inf")])}, "block 'n2-0': non-finite embedding"),
        (1, {"embedding": _f32([0.6, 0.6])}, r"block 'n1-0': embedding must be L2-normalised \(norm 0.8485\)"),
        (1, {"embedding": _f32([1.0015])}, "L2-normalised"),
        (3, {"embedding": b"\x00" * 12}, "block 'n3-0': embedding has 12 bytes, expected 512"),
        (3, {"embedding": "nope"}, "'embedding' must be bytes or a list"),
        (3, {"embedding": [0.0] * 127}, "embedding has 127 numbers"),
        (4, {"id": "n0-0"}, "block id 'n0-0' already exists"),
        (4, {"id": ""}, "'id' must be a non-empty string"),
        (0, {"text": ""}, "'text' must be a non-empty string"),
        (0, {"metadata": {"x": float("nan")}}, "non-finite float"),
        (0, {"metadata": {"x": [1, {2: 3}]}}, "keys must be strings"),
        (0, {"metadata": []}, "'metadata' must be a dict"),
        (1, {"kind": "forever"}, "unknown memory kind"),
        (1, {"access_count": -1}, "bad access_count"),
        (1, {"access_count": True}, "bad access_count"),
        (1, {"importance": 2.0}, r"block 'n1-0' importance must be in \[0, 1\]"),
        (1, {"created": None}, "block 'n1-0' created must be a finite number"),
        (1, {"last_accessed": float("nan")}, "block 'n1-0' last_accessed must be a finite number"),
        (1, {"color": "red"}, "unknown block field"),
    ],
)
def test_from_data_rejects_bad_blocks(index: int, change: dict[str, Any], message: str) -> None:
    data = corpus_store().to_data()
    data["blocks"][index].update(change)
    with pytest.raises(MemoryPayloadError, match=message):
        MemoryStore.from_data(data)
    with pytest.raises(MemoryPayloadError, match=message):  # the same error as a replayed memory_add
        make().apply({"op": "memory_add", "blocks": data["blocks"]})


def test_from_data_reports_the_first_bad_block() -> None:
    data = corpus_store().to_data()
    data["blocks"][3]["embedding"] = _f32([float("nan")])
    data["blocks"][1]["kind"] = "forever"  # earlier block: its error wins, as block by block
    with pytest.raises(MemoryPayloadError, match="unknown memory kind"):
        MemoryStore.from_data(data)
    data["blocks"][1]["kind"] = "long_term"
    data["blocks"][4]["metadata"] = {"t": float("inf")}
    with pytest.raises(MemoryPayloadError, match=r"n3-0.*non-finite embedding"):
        MemoryStore.from_data(data)


@pytest.mark.parametrize("quantize", [False, True])
def test_from_data_bulk_path_matches_incremental_store(quantize: bool) -> None:
    store = corpus_store(quantize=quantize)
    add(store, "the and of", "z", now=T0 + 9, metadata={"deep": [{"a": [1, None, b"x"]}]})  # a zero embedding
    assert not np.any(store.get("z-0").embedding)  # type: ignore[union-attr]
    store.apply(store.plan_touch(["n1-0"], T0 + 20))
    data = store.to_data()
    data["blocks"][0]["embedding"] = bytearray(data["blocks"][0]["embedding"])  # still accepted
    data["blocks"][2]["embedding"] = np.frombuffer(data["blocks"][2]["embedding"], "<f4").tolist()  # list form
    clone = MemoryStore.from_data(data)
    assert clone == store and clone.to_data() == store.to_data()
    block = clone.get("n0-0")
    assert block is not None and not block.embedding.flags.writeable and block.embedding.dtype == np.float32
    raw = clone._blocks["z-0"].metadata  # a copy, not the serialized object
    assert raw == data["blocks"][-1]["metadata"] and raw["deep"] is not data["blocks"][-1]["metadata"]["deep"]
    queries = ["tomato plants", "backup database", "cat windowsill europe"]
    expect = [[(h.id, h.score, h.components) for h in store.search(q, now=T0)] for q in queries]
    assert [[(h.id, h.score, h.components) for h in clone.search(q, now=T0)] for q in queries] == expect
    assert clone.stats() == store.stats()


def test_deferred_keyword_index_follows_mutations_before_first_search() -> None:
    store = corpus_store(forget_after_s=100.0, forget_below_importance=0.6)
    store.apply(store.plan_touch(["n4-0"], T0 + 5))  # accessed: never forgotten
    clone = MemoryStore.from_data(store.to_data())
    for s in (store, clone):  # the clone's keyword index is not built yet
        assert s.apply(s.plan_forget(T0 + 1e9)) == ["n0-0", "n1-0", "n2-0", "n3-0"]
        add(s, "tomato soup recipe with basil", "late", now=T0 + 50)
        s.apply(s.plan_consolidate(T0 + 60))
    assert clone == store
    hits = [(h.id, h.score) for h in store.search("tomato", now=T0)]
    assert hits and [(h.id, h.score) for h in clone.search("tomato", now=T0)] == hits
    assert clone.stats()["vocabulary"] == store.stats()["vocabulary"]
