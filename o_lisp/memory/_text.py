"""Text handling shared by chunking, the hashing embedder and BM25.

One tokenizer for both scorers on purpose: the vector and keyword components
then agree on what a "word" is, so a query word that matches lexically also
contributes to the hashed vector.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from functools import lru_cache

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

#: Function words carry no topic: dropping them keeps "what is the ..." questions
#: from matching every note that also says "the". Small and English-only by design.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves""".split()
)


def stem(word: str) -> str:
    """A deliberately tiny stemmer: folds plurals and possessives ("notes", "agent's").

    Enough for BM25 to match "note"/"notes"; anything smarter would need a
    language model or a dictionary, which the offline default must not depend on.
    """
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


#: `stem` memoised: words repeat a lot, and tokenising is on every embed, add and search.
_stem = lru_cache(maxsize=1 << 16)(stem)


@lru_cache(maxsize=256)
def _cached_words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower()))


def words(text: str) -> tuple[str, ...]:
    """The lower-cased words of ``text``, stopwords included, in order.

    The hashing embedder and BM25 both need them for every new block, one in
    `MemoryStore.prepare_add` and one when the block is applied: block-sized texts
    are split once and remembered briefly.
    """
    if len(text) > 2048:
        return tuple(_WORD.findall(text.lower()))
    return _cached_words(text)


def tokens(text: str) -> list[str]:
    """Lower-cased, stemmed content words of ``text`` (stopwords removed)."""
    return [_stem(w) for w in words(text) if w not in STOPWORDS]


def chunk_text(text: str, block_size: int, overlap: int) -> list[str]:
    """Cut ``text`` into blocks of at most ``block_size`` characters overlapping by ~``overlap``.

    Cuts fall on whitespace where possible: a block ends at the last whitespace
    before the size limit. Only a word longer than a block is cut hard at the
    limit, and then only when the block before it would be no longer than the
    overlap (otherwise the block ends before it and the next starts with it).
    The next block starts ``overlap`` characters before the previous end,
    moved forward to the start of a word. Blocks are stripped of surrounding
    whitespace; every block is non-empty and progress is guaranteed because
    ``block_size > overlap``.
    """
    n = len(text)
    chunks: list[str] = []
    start = 0
    while start < n and text[start].isspace():
        start += 1
    while start < n:
        end = min(start + block_size, n)
        if end < n and not text[end].isspace():
            cut = end
            while cut > start and not text[cut - 1].isspace():
                cut -= 1
            word_end = end  # the word straddling the limit ends here
            while word_end < n and not text[word_end].isspace():
                word_end += 1
            # Cut before that word unless the block would be no longer than the overlap
            # *and* the word could not fit a block anyway (then cutting it is unavoidable).
            if cut > start and (cut - start > overlap or word_end - cut <= block_size):
                end = cut
        piece = text[start:end].strip()
        if piece:
            chunks.append(piece)
        if end >= n:
            break
        nxt = max(end - overlap, start + 1)
        if nxt < end and nxt > 0 and not text[nxt - 1].isspace():
            # Inside a word: move to the start of the next word (never past `end`).
            while nxt < end and not text[nxt].isspace():
                nxt += 1
        while nxt < n and text[nxt].isspace():
            nxt += 1
        start = nxt
    return chunks


class BM25Index:
    """An incremental Okapi BM25 index over block ids.

    Scores are normalised per query by the best score, so the keyword
    component lies in [0, 1] like the others and its weight means the same
    thing whatever the corpus size. ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``
    (always positive, the Lucene variant).
    """

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._postings: dict[str, dict[str, int]] = {}
        self._lengths: dict[str, int] = {}
        self._total = 0

    def __len__(self) -> int:
        return len(self._lengths)

    @property
    def vocabulary(self) -> int:
        return len(self._postings)

    def add(self, block_id: str, text: str) -> None:
        self.add_many(((block_id, text),))

    def add_many(self, items: Iterable[tuple[str, str]]) -> None:
        """`add` for many ``(block_id, text)`` pairs, in order."""
        postings = self._postings
        lengths = self._lengths
        total = 0
        for block_id, text in items:
            words = tokens(text)
            lengths[block_id] = len(words)
            total += len(words)
            counts: dict[str, int] = {}
            for word in words:
                counts[word] = counts.get(word, 0) + 1
            for term, tf in counts.items():
                posting = postings.get(term)
                if posting is None:
                    postings[term] = {block_id: tf}
                else:
                    posting[block_id] = tf
        self._total += total

    def remove(self, block_id: str, text: str) -> None:
        length = self._lengths.pop(block_id)
        self._total -= length
        for term in set(tokens(text)):
            posting = self._postings.get(term)
            if posting is None:
                continue
            posting.pop(block_id, None)
            if not posting:
                del self._postings[term]

    def scores(self, query: str, allowed: Iterable[str] | None = None) -> dict[str, float]:
        """Normalised BM25 score in (0, 1] of every block sharing a term with ``query``."""
        n = len(self._lengths)
        if n == 0:
            return {}
        allow = set(allowed) if allowed is not None else None
        avg = self._total / n if self._total else 1.0
        raw: dict[str, float] = {}
        for term in set(tokens(query)):
            posting = self._postings.get(term)
            if not posting:
                continue
            df = len(posting)
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            for block_id, tf in posting.items():
                if allow is not None and block_id not in allow:
                    continue
                norm = self.k1 * (1.0 - self.b + self.b * self._lengths[block_id] / avg)
                raw[block_id] = raw.get(block_id, 0.0) + idf * tf * (self.k1 + 1.0) / (tf + norm)
        if not raw:
            return {}
        best = max(raw.values())
        return {block_id: s / best for block_id, s in raw.items()}
