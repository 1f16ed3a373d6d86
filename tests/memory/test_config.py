"""MemoryConfig / SearchWeights validation: every bad option is named in the error."""

from __future__ import annotations

from typing import Any

import pytest

from o_lisp import OLispError
from o_lisp.memory import MemoryConfig, MemoryConfigError, SearchWeights


def test_contract_example_and_defaults() -> None:
    cfg = MemoryConfig(
        name="notes",
        block_size=512,
        overlap=50,
        dim=384,
        weights=SearchWeights(vector=0.6, keyword=0.3, recency=0.05, importance=0.05),
        embedder={"kind": "hashing"},
        quantize=False,
    )
    assert cfg.weights.to_dict() == {"vector": 0.6, "keyword": 0.3, "recency": 0.05, "importance": 0.05}
    assert MemoryConfig().embedder == {"kind": "hashing"}


def test_from_options_accepts_lisp_spellings_and_round_trips() -> None:
    cfg = MemoryConfig.from_options(
        {":block-size": 256, "overlap": 10, "dim": 64, "weights": {"vector": 1.0}, "quantize": True}
    )
    assert (cfg.block_size, cfg.overlap, cfg.dim, cfg.quantize) == (256, 10, 64, True)
    assert cfg.weights == SearchWeights(vector=1.0)
    assert MemoryConfig.from_options(cfg.to_options()) == cfg


@pytest.mark.parametrize(
    ("options", "option", "message"),
    [
        ({"blocksize": 3}, "blocksize", "unknown option"),
        ({"block_size": "512"}, "block_size", "must be an int"),
        ({"block_size": True}, "block_size", "must be an int"),
        ({"block_size": 50, "overlap": 50}, "overlap", "smaller than block_size"),
        ({"overlap": -1}, "overlap", ">= 0"),
        ({"dim": 0}, "dim", ">= 1"),
        ({"dim": -5}, "dim", ">= 1"),
        ({"quantize": 1}, "quantize", "must be a bool"),
        ({"name": ""}, "name", "non-empty"),
        ({"weights": {"vectr": 1.0}}, "weights.vectr", "unknown weight"),
        ({"weights": {"vector": -1.0}}, "weights.vector", ">= 0"),
        ({"weights": {"vector": float("nan")}}, "weights.vector", "finite"),
        ({"weights": [1, 2]}, "weights", "mapping"),
        ({"weights": {"vector": 0, "keyword": 0, "recency": 0, "importance": 0}}, "weights", "> 0"),
        ({"embedder": {"kind": "word2vec"}}, "embedder", "unknown kind"),
        ({"embedder": {"kind": "openai", "model": "m"}}, "embedder", "needs 'url'"),
        ({"embedder": {"kind": "ollama", "url": "ftp://x", "model": "m"}}, "embedder", "http"),
        ({"embedder": {"kind": "hashing", "seed": 1}}, "embedder", "unknown hashing"),
        ({"recency_half_life_s": 0}, "recency_half_life_s", "> 0"),
        ({"forget_after_s": "1d"}, "forget_after_s", "number"),
        ({"consolidate_accesses": 0}, "consolidate_accesses", ">= 1"),
        ({"short_term_capacity": 2.5}, "short_term_capacity", "must be an int"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, Any], option: str, message: str) -> None:
    with pytest.raises(MemoryConfigError, match=message) as info:
        MemoryConfig.from_options(options)
    assert info.value.option == option
    assert repr(option) in str(info.value)
    assert isinstance(info.value, OLispError)


def test_duplicate_spelling_and_non_mapping() -> None:
    with pytest.raises(MemoryConfigError, match="given twice"):
        MemoryConfig.from_options({"block-size": 10, "block_size": 10})
    with pytest.raises(MemoryConfigError, match="mapping"):
        MemoryConfig.from_options([("dim", 3)])  # type: ignore[arg-type]
