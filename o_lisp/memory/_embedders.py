"""Pluggable text embedders: an offline hashing embedder (default) and HTTP services.

Why a hashing embedder by default: the runtime must work offline, without
downloading model weights, and must be deterministic (the same text gives the
same vector on every machine and in every process, so a replayed log and a
checkpoint agree). Signed feature hashing of content words and of character
trigrams gives vectors in which texts sharing words (or word stems and
inflections, through the trigrams) have high cosine similarity. It knows no
synonyms: that is what the HTTP embedders are for.

The HTTP embedder is the one non-deterministic input of the memory system;
`MemoryStore.prepare_add` therefore computes embeddings before a mutation is
logged, and the payload carries them.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from o_lisp.memory._errors import MemoryConfigError, MemoryEmbedderError
from o_lisp.memory._text import STOPWORDS, stem, words

Array = np.ndarray[Any, Any]


class Embedder(Protocol):
    """What the store needs from an embedder."""

    dim: int

    def embed(self, texts: Sequence[str]) -> Array:
        """A float32 array of shape ``(len(texts), dim)``, rows L2-normalised (or zero)."""
        ...

    def spec(self) -> dict[str, Any]:
        """The configuration this embedder was made from (no secrets)."""
        ...


def _normalise(matrix: Array) -> Array:
    """Rows divided by their L2 norms (zero rows stay zero), as float32.

    The norm is computed the way ``np.linalg.norm(matrix, axis=1)`` does (squares, a
    row-wise ``add.reduce``, a square root), without its dispatch: the vectors of the
    hashing embedder are a stable format (see `HashingEmbedder`).
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.sqrt(np.add.reduce(matrix * matrix, axis=1, keepdims=True))
    out = np.zeros(matrix.shape, np.float64)
    np.divide(matrix, norms, out=out, where=norms > 0)
    return out.astype(np.float32)


@lru_cache(maxsize=1 << 16)
def _bucket(feature: str, dim: int) -> tuple[int, float]:
    """Bucket and sign of a feature: blake2b, because Python's ``hash`` is salted per process."""
    h = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
    return h % dim, (1.0 if (h >> 63) & 1 else -1.0)


_NO_FEATURES: tuple[tuple[int, ...], tuple[float, ...]] = ((), ())


@lru_cache(maxsize=1 << 16)
def _word_features(token: str, dim: int) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The buckets and signed weights one lower-cased token adds, in the order they are added.

    Memoised per token because words repeat: a text then costs one cache hit per
    word instead of a hash and an array update per feature. The weights are the
    exact float64 products the feature definition gives (`HashingEmbedder`), so
    summing them in this order reproduces the same bits as adding them one by one.
    """
    if token in STOPWORDS:
        return _NO_FEATURES
    word = stem(token)
    buckets: list[int] = []
    weights: list[float] = []
    b, s = _bucket("w:" + word, dim)
    buckets.append(b)
    weights.append(s)
    marked = f"<{word}>"
    grams = [marked[i : i + 3] for i in range(len(marked) - 2)]
    weight = 0.5 / math.sqrt(len(grams))
    for gram in grams:
        b, s = _bucket("c:" + gram, dim)
        buckets.append(b)
        weights.append(s * weight)
    return tuple(buckets), tuple(weights)


class HashingEmbedder:
    """Signed feature hashing of word unigrams and character trigrams into ``dim`` buckets.

    Features per content word (stopwords dropped, light stemming): the word
    itself (weight 1) and its character trigrams with boundary markers
    (``<word>``), weighted ``0.5/sqrt(#trigrams)`` so a long word does not
    outweigh a short one. The sign bit halves the bias of hash collisions.
    Rows are L2-normalised; a text without content words maps to the zero
    vector (cosine 0 with everything).

    The features of a text are summed in float64 in text order (`np.bincount` adds
    its weights in input order), then normalised and stored as float32: the same
    text gives the same bits in every process and on every machine.
    """

    def __init__(self, dim: int = 384) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
            raise MemoryConfigError("dim", f"must be a positive int, got {dim!r}")
        self.dim = dim

    def spec(self) -> dict[str, Any]:
        return {"kind": "hashing"}

    def _vector(self, text: str) -> Array:
        """The unnormalised float64 feature sum of one text."""
        dim = self.dim
        buckets: list[int] = []
        weights: list[float] = []
        for token in words(text):
            b, w = _word_features(token, dim)
            buckets += b
            weights += w
        if not buckets:
            return np.zeros(dim, np.float64)
        return np.bincount(np.asarray(buckets, dtype=np.intp), weights=np.asarray(weights, dtype=np.float64),
                           minlength=dim)

    def embed(self, texts: Sequence[str]) -> Array:
        if len(texts) == 1:  # the usual memory_add: the same arithmetic as `_normalise`, fewer calls
            vector = self._vector(texts[0])
            norm = math.sqrt(float(np.add.reduce(vector * vector)))
            row = vector / norm if norm > 0 else np.zeros(self.dim, np.float64)
            return row.astype(np.float32).reshape(1, self.dim)
        matrix = np.zeros((len(texts), self.dim), np.float64)
        for i, text in enumerate(texts):
            matrix[i] = self._vector(text)
        return _normalise(matrix)


class _Retriable(Exception):
    """A failure worth retrying (429, 5xx, unreachable); its message is the user's error."""


class HTTPEmbedder:
    """Embeddings from an OpenAI-compatible service or from Ollama, through the same SDKs
    as the models (`o_lisp.llm`): the `openai` SDK retries 429/5xx with backoff honouring
    `Retry-After` itself; for the `ollama` SDK, which has none, `_post` does (``retries``).

    * ``kind="openai"``: ``POST {url}/v1/embeddings`` with ``{"model", "input": [...]}``;
      the answer's ``data[i].embedding`` (ordered by ``data[i].index`` when present).
      ``api_key_env`` names the environment variable holding the key (the key
      itself never enters configuration, payloads or checkpoints).
    * ``kind="ollama"``: ``POST {url}/api/embed`` with ``{"model", "input": [...]}``;
      the answer's ``embeddings``.

    Texts are sent in batches of ``batch_size``. Every failure (HTTP status,
    unreachable host, timeout, invalid JSON, missing fields, wrong count or
    dimension, non-finite numbers) raises `MemoryEmbedderError`.
    """

    def __init__(
        self,
        kind: str,
        url: str,
        model: str,
        dim: int,
        *,
        api_key_env: str | None = None,
        timeout: float = 30.0,
        batch_size: int = 64,
        retries: int = 2,
    ) -> None:
        if kind not in ("openai", "ollama"):
            raise MemoryConfigError("embedder", f"unknown HTTP embedder kind {kind!r}")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise MemoryConfigError("embedder", f"url must be an http(s) URL, got {url!r}")
        if not isinstance(model, str) or not model:
            raise MemoryConfigError("embedder", "model must be a non-empty string")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
            raise MemoryConfigError("dim", f"must be a positive int, got {dim!r}")
        if api_key_env is not None and (not isinstance(api_key_env, str) or not api_key_env):
            raise MemoryConfigError("embedder", "api_key_env must be an environment variable name")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise MemoryConfigError("embedder", f"timeout must be > 0 seconds, got {timeout!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise MemoryConfigError("embedder", f"batch_size must be >= 1, got {batch_size!r}")
        self.kind = kind
        self.url = url.rstrip("/")
        self.model = model
        self.dim = dim
        self.api_key_env = api_key_env
        self.timeout = float(timeout)
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            raise MemoryConfigError("embedder", f"retries must be an integer from 0 to 10, got {retries!r}")
        self.batch_size = batch_size
        self.retries = retries
        self._sdk_client: Any = None
        self._retry_after: str | None = None

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"kind": self.kind, "url": self.url, "model": self.model}
        if self.api_key_env is not None:
            spec["api_key_env"] = self.api_key_env
        spec["timeout"] = self.timeout
        if self.retries != 2:
            spec["retries"] = self.retries
        return spec

    @property
    def endpoint(self) -> str:
        return self.url + ("/v1/embeddings" if self.kind == "openai" else "/api/embed")

    def _key(self) -> str | None:
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise MemoryEmbedderError(f"environment variable {self.api_key_env} (api_key_env) is not set")
        return key

    def _client(self) -> Any:
        """The SDK client, made once (the SDK is the optional extra `llm`)."""
        if self._sdk_client is None:
            key = self._key()
            try:
                if self.kind == "openai":
                    import openai  # optional SDK: only a remote embedder of this kind needs it

                    self._sdk_client = openai.OpenAI(api_key=key or "not-needed", base_url=self.url + "/v1",
                                                     max_retries=self.retries, timeout=self.timeout)
                else:
                    import ollama  # optional SDK: only a remote embedder of this kind needs it

                    headers = {"Authorization": f"Bearer {key}"} if key else {}
                    self._sdk_client = ollama.Client(host=self.url, timeout=self.timeout, headers=headers,
                                                     event_hooks={"response": [self._remember_retry_after]})
                    if not key:  # as before: no key unless api_key_env names one (the SDK adds OLLAMA_API_KEY)
                        self._sdk_client._client.headers.pop("authorization", None)
            except ImportError as error:
                raise MemoryEmbedderError(f"{self.kind} embedder: the {error.name} SDK is not installed; "
                                          "install the extra: pip install 'o-lisp[llm]'") from None
        return self._sdk_client

    def _remember_retry_after(self, response: Any) -> None:
        self._retry_after = response.headers.get("retry-after")

    def _post(self, texts: list[str]) -> Any:
        """One batch through the SDK → the answer as plain data for `_vectors`; no key in
        an error message even when the server echoes it."""
        from o_lisp.llm._errors import (
            scrub,  # o_lisp.llm imports the agent runtime, which imports this package
        )

        try:
            return self._post_retrying(texts)
        except MemoryEmbedderError as error:
            key = os.environ.get(self.api_key_env) if self.api_key_env else None
            cleaned = scrub(str(error), [key])
            if cleaned == str(error):
                raise
            raise MemoryEmbedderError(cleaned) from None

    def _post_retrying(self, texts: list[str]) -> Any:
        if self.kind == "openai":
            return self._post_openai(texts)
        attempt = 0
        while True:  # the ollama SDK has no retries of its own
            try:
                return self._post_ollama(texts)
            except _Retriable as error:
                if attempt >= self.retries:
                    raise MemoryEmbedderError(str(error)) from None
                from o_lisp.llm._sdk import (
                    _backoff,  # as `scrub` above: o_lisp.llm imports this package, indirectly
                )

                time.sleep(_backoff(attempt, self._retry_after))
                attempt += 1

    def _post_openai(self, texts: list[str]) -> Any:
        import openai  # optional SDK: only a remote embedder of this kind needs it

        client = self._client()
        try:
            response = client.embeddings.create(model=self.model, input=texts, encoding_format="float")
        except openai.APIStatusError as error:
            detail = error.response.text[:300]
            raise MemoryEmbedderError(f"openai embedder: HTTP {error.status_code} from {self.endpoint}: {detail}") \
                from None
        except openai.APIConnectionError as error:  # includes timeouts
            raise MemoryEmbedderError(f"openai embedder: cannot reach {self.endpoint}: {error}") from None
        except (openai.APIError, ValueError) as error:
            raise MemoryEmbedderError(f"openai embedder: invalid JSON from {self.endpoint}: {error}") from None
        data = getattr(response, "data", None)
        if not isinstance(data, list):
            return {}
        return {"data": [{"index": getattr(item, "index", None), "embedding": getattr(item, "embedding", None)}
                         for item in data]}

    def _post_ollama(self, texts: list[str]) -> Any:
        import httpx  # optional (with the ollama SDK): only a remote embedder of this kind needs them
        import ollama

        client = self._client()
        self._retry_after = None
        try:
            response = client.embed(model=self.model, input=texts)
        except ollama.ResponseError as error:
            message = f"ollama embedder: HTTP {error.status_code} from {self.endpoint}: {str(error.error)[:300]}"
            if error.status_code == 429 or error.status_code >= 500:
                raise _Retriable(message) from None
            raise MemoryEmbedderError(message) from None
        except (httpx.HTTPError, ConnectionError) as error:
            raise _Retriable(f"ollama embedder: cannot reach {self.endpoint}: {error}") from None
        except (ValueError, TypeError) as error:  # the SDK's JSON decoding and model checks
            raise MemoryEmbedderError(f"ollama embedder: invalid JSON from {self.endpoint}: {error}") from None
        return {"embeddings": [list(v) for v in (getattr(response, "embeddings", None) or [])]}

    def _vectors(self, answer: Any, count: int) -> list[Any]:
        where = f"{self.kind} embedder ({self.endpoint})"
        if not isinstance(answer, dict):
            raise MemoryEmbedderError(f"{where}: expected a JSON object")
        if self.kind == "openai":
            data = answer.get("data")
            if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
                raise MemoryEmbedderError(f"{where}: answer has no 'data' list of objects")
            if all(isinstance(d.get("index"), int) for d in data):
                data = sorted(data, key=lambda d: d["index"])
            vectors: list[Any] = [d.get("embedding") for d in data]
        else:
            found = answer.get("embeddings")
            if not isinstance(found, list):
                raise MemoryEmbedderError(f"{where}: answer has no 'embeddings' list")
            vectors = found
        if len(vectors) != count:
            raise MemoryEmbedderError(f"{where}: sent {count} texts, got {len(vectors)} embeddings")
        for v in vectors:
            if not isinstance(v, list) or not all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in v
            ):
                raise MemoryEmbedderError(f"{where}: an embedding is not a list of numbers")
            if len(v) != self.dim:
                raise MemoryEmbedderError(
                    f"{where}: embedding has dimension {len(v)}, the memory expects dim={self.dim}"
                )
        return vectors

    def embed(self, texts: Sequence[str]) -> Array:
        rows: list[Any] = []
        items = list(texts)
        for i in range(0, len(items), self.batch_size):
            batch = items[i : i + self.batch_size]
            rows.extend(self._vectors(self._post(batch), len(batch)))
        matrix = np.array(rows, dtype=np.float64).reshape(len(items), self.dim)
        if not np.all(np.isfinite(matrix)):
            raise MemoryEmbedderError(f"{self.kind} embedder: non-finite number in an embedding")
        return _normalise(matrix)


_HTTP_KEYS = {"kind", "url", "model", "api_key_env", "timeout", "batch_size", "retries"}


def make_embedder(spec: Mapping[str, Any], dim: int) -> Embedder:
    """Build an embedder from its configuration, e.g. ``{"kind": "hashing"}``.

    ``{"kind": "openai", "url": ..., "model": ..., "api_key_env": ...}`` and
    ``{"kind": "ollama", "url": ..., "model": ...}`` select `HTTPEmbedder`
    (optional ``timeout``, ``batch_size``). Bad specs raise `MemoryConfigError`.
    """
    if not isinstance(spec, Mapping):
        raise MemoryConfigError("embedder", f"must be a mapping, got {type(spec).__name__}")
    kind = spec.get("kind")
    if kind == "hashing":
        extra = set(spec) - {"kind"}
        if extra:
            raise MemoryConfigError("embedder", f"unknown hashing option(s) {sorted(extra)}")
        return HashingEmbedder(dim)
    if kind in ("openai", "ollama"):
        extra = set(spec) - _HTTP_KEYS
        if extra:
            raise MemoryConfigError("embedder", f"unknown {kind} option(s) {sorted(extra)}")
        for key in ("url", "model"):
            if key not in spec:
                raise MemoryConfigError("embedder", f"{kind} embedder needs {key!r}")
        return HTTPEmbedder(
            kind,
            spec["url"],
            spec["model"],
            dim,
            api_key_env=spec.get("api_key_env"),
            timeout=spec.get("timeout", 30.0),
            batch_size=spec.get("batch_size", 64),
            retries=spec.get("retries", 2),
        )
    raise MemoryConfigError(
        "embedder", f"unknown kind {kind!r} (expected 'hashing', 'openai' or 'ollama')"
    )
