"""The Numba cache: where it lives, that it is filled, and that a fresh process uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from o_lisp.memory import CACHE_DIR
from o_lisp.memory._kernels import kernels, warm_up


def run(code: str, **env: str | None) -> str:
    environ = dict(os.environ)
    for key, value in env.items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=240)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_cache_files_exist_after_a_first_run() -> None:
    warm_up()
    for name, dispatcher in kernels().items():
        assert dispatcher.signatures, name
        stem = f"_kernels.{dispatcher.py_func.__name__}-"
        index = [p for p in Path(CACHE_DIR).rglob(f"{stem}*.nbi")]
        data = [p for p in Path(CACHE_DIR).rglob(f"{stem}*.nbc")]
        assert index and data, f"no cache files for {name} under {CACHE_DIR}"


FIRST_QUERY = """
import json, time
t0 = time.perf_counter()
from o_lisp.memory import MemoryConfig, MemoryStore
from o_lisp.memory._kernels import kernels
store = MemoryStore(MemoryConfig(dim=64, quantize={quantize}))
store.apply(store.prepare_add("the quick brown fox jumps over the lazy dog " * 20, now=1.0, id_prefix="m"))
t1 = time.perf_counter()
store.search("lazy fox", k=3, now=2.0)
t2 = time.perf_counter()
store.search_batch(["lazy fox", "brown dog"], k=3, now=2.0)
t3 = time.perf_counter()
stats = {{n: [sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values())] for n, k in kernels().items()}}
print(json.dumps({{"import_s": t1 - t0, "first_query_s": t2 - t1, "first_batch_s": t3 - t2, "kernels": stats}}))
"""


def test_fresh_process_first_query_does_not_compile() -> None:
    """Deterministic check (cache hits, no misses); the latency is printed, never asserted."""
    warm_up()  # make sure the cache is warm, as `make test` / CI do
    for quantize in (False, True):
        result = json.loads(run(FIRST_QUERY.format(quantize=quantize)))
        used = ["topk_i8", "topk_i8_batch"] if quantize else ["topk_f32", "topk_f32_batch"]
        for name in used:
            hits, misses = result["kernels"][name]
            assert misses == 0 and hits >= 1, (name, result)
        print(
            f"\nfresh process (quantize={quantize}): import+add {result['import_s'] * 1e3:.0f} ms, "
            f"first query {result['first_query_s'] * 1e3:.1f} ms, first batch {result['first_batch_s'] * 1e3:.1f} ms"
        )


def test_cache_dir_follows_the_environment(tmp_path: Path) -> None:
    code = "import o_lisp.memory; from numba.core import config; print(config.CACHE_DIR)"
    assert run(code, NUMBA_CACHE_DIR=str(tmp_path / "mine")) == str(tmp_path / "mine")
    assert run(code, NUMBA_CACHE_DIR=None, XDG_CACHE_HOME=str(tmp_path)) == str(tmp_path / "o_lisp" / "numba")
    assert (tmp_path / "o_lisp" / "numba").is_dir()
    # numba imported first (by someone else): the configuration is reloaded.
    late = "import numba; " + code
    assert run(late, NUMBA_CACHE_DIR=None, XDG_CACHE_HOME=str(tmp_path)) == str(tmp_path / "o_lisp" / "numba")
