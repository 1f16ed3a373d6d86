"""The hashing embedder's vectors are a stable format (stored in logs and checkpoints):
its fast implementation must give the bits of the original, one-feature-at-a-time one."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from o_lisp.memory import HashingEmbedder
from o_lisp.memory._embedders import _bucket
from o_lisp.memory._text import _WORD, STOPWORDS, stem

Array = np.ndarray[Any, Any]


def reference_vector(text: str, dim: int) -> Array:
    """The original definition: features added to a float64 row one by one, in text order."""
    out = np.zeros(dim)
    for raw in _WORD.findall(text.lower()):
        if raw in STOPWORDS:
            continue
        word = stem(raw)
        b, s = _bucket("w:" + word, dim)
        out[b] += s
        marked = f"<{word}>"
        grams = [marked[i : i + 3] for i in range(len(marked) - 2)]
        weight = 0.5 / math.sqrt(len(grams))
        for gram in grams:
            b, s = _bucket("c:" + gram, dim)
            out[b] += s * weight
    return out


def reference_embed(texts: list[str], dim: int) -> Array:
    """The original normalisation: `np.linalg.norm` per row, zero rows left zero, float32."""
    m = np.zeros((len(texts), dim))
    for i, t in enumerate(texts):
        m[i] = reference_vector(t, dim)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    out = np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)
    return np.ascontiguousarray(out, dtype=np.float32)


def assert_bit_identical(texts: list[str], dim: int) -> None:
    got = HashingEmbedder(dim).embed(texts)
    want = reference_embed(texts, dim)
    assert got.dtype == np.float32
    assert got.flags.c_contiguous
    assert got.shape == want.shape == (len(texts), dim)
    mismatched = np.flatnonzero((got.view(np.uint32) != want.view(np.uint32)).any(axis=1))
    assert mismatched.size == 0, [texts[i] for i in mismatched]


_VOCABULARY = [
    *sorted(STOPWORDS),
    "agent's", "agents", "notes", "note", "stories", "story", "class", "status", "analysis",
    "it's", "o'clock", "rock'n'roll", "don't", "ies", "lies", "flies", "bus", "ss",
    "memory", "memories", "Memory", "MEMORY", "x", "xy", "42", "3.14", "v2", "_under_score",
    "naïve", "café", "Straße", "ΣΟΦΙΑ", "Ελλάδα", "москва", "Москвы", "東京", "日本語",
    "العربية", "हिन्दी", "İstanbul", "ǅemal", "ﬁle", "١٢٣",
]
_SEPARATORS = [" ", "  ", "\n", "\t", ", ", ". ", "-", "_", "'", "!? ", "/", "…", "\u00a0", ""]

_words = st.sampled_from(_VOCABULARY) | st.text(
    alphabet=st.characters(
        whitelist_categories=("Lu", "Ll", "Lt", "Lo", "Nd", "Nl", "No", "Mn", "Pc", "Po", "Zs"),
        whitelist_characters="'’",
    ),
    min_size=1,
    max_size=12,
)


@st.composite
def _texts(draw: st.DrawFn) -> str:
    words = draw(st.lists(_words, max_size=25))
    if words and draw(st.booleans()):  # repeated words: the per-token cache is hit
        words += draw(st.lists(st.sampled_from(words), max_size=10))
    parts: list[str] = []
    for word in words:
        parts.append(word)
        parts.append(draw(st.sampled_from(_SEPARATORS)))
    return "".join(parts)


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(_texts() | st.text(max_size=60), max_size=5),
       dim=st.sampled_from([1, 2, 7, 64, 384]))
def test_hashing_embedder_matches_the_reference_bit_for_bit(texts: list[str], dim: int) -> None:
    """Any text, any batch, any dimension: the same float32 bits as the original."""
    assert_bit_identical(texts, dim)


@settings(max_examples=100, deadline=None)
@given(text=_texts(), dim=st.sampled_from([1, 2, 7, 64]))
@example(text="agent's notes stories pneumonoultramicroscopic memory systems Straße 東京 x", dim=1)
def test_float64_feature_sum_matches_the_reference_bit_for_bit(text: str, dim: int) -> None:
    """The unnormalised float64 sum is the same bits too, not merely close: float32
    rounding would hide a changed summation order in all but rare cases, and the
    order is what makes the vectors reproducible on every machine."""
    # (np.bincount gives int64 zeros for a text without features: same values.)
    got = np.asarray(HashingEmbedder(dim)._vector(text), dtype=np.float64)
    want = reference_vector(text, dim)
    assert got.shape == (dim,)
    assert (got.view(np.uint64) == want.view(np.uint64)).all()


_LONG_WORD = "pneumono" * 37 + "sis"  # 299 characters, one word
_EXAMPLES = [
    "",
    "   \n\t ",
    "the of and is it a an",
    "THE Of AnD",
    "agent's notes stories",
    "notes notes notes note's NOTES",
    _LONG_WORD,
    f"{_LONG_WORD} {_LONG_WORD}s short",
    "Ελληνικά κείμενα: η γλώσσα ΣΟΦΙΑΣ",
    "Русский текст, ещё один текст",
    "日本語のテキストと東京",
    "مرحبا بالعالم العربية",
    "हिन्दी पाठ",
    "mixed 日本 text with café and naïve Straße",
    "digits 0 1 22 333 4444 ٣٤٥ ²³",
    "punctuation!!! ??? ... --- ___ ''' \"quoted\" (paren) [bracket]",
    "İstanbul ǅemal ﬁle ß",
    "emoji 🙂 only 🚀🚀 between",
    "a" * 10,
    "x",
]


@pytest.mark.parametrize("dim", [1, 7, 64, 384])
def test_explicit_examples_match_the_reference(dim: int) -> None:
    """Edge cases named: empty and stopword-only texts (zero rows), possessives and
    plurals, a very long word, non-Latin scripts, digits and punctuation."""
    assert_bit_identical(_EXAMPLES, dim)
    for text in _EXAMPLES:
        assert_bit_identical([text], dim)


def test_empty_batch_and_zero_rows() -> None:
    """No texts gives an empty (0, dim) float32 matrix; a text of stopwords a zero row."""
    assert_bit_identical([], 16)
    vectors = HashingEmbedder(16).embed(["the of", "note"])
    assert not vectors[0].any()
    assert vectors[1].any()


def test_a_batch_embeds_each_text_independently() -> None:
    """A text's vector does not depend on its neighbours in the batch (nor on the cache)."""
    texts = ["agent's notes stories", "notes", "", "stories about agents"]
    emb = HashingEmbedder(64)
    together = emb.embed(texts)
    for i, text in enumerate(texts):
        alone = emb.embed([text])[0]
        assert (alone.view(np.uint32) == together[i].view(np.uint32)).all()
