"""Vector-search benchmark: Numba kernels vs NumPy brute force vs FAISS ``IndexFlatIP``.

    .venv/bin/python bench/vector_search.py [--n 100000] [--dim 384] [--k 10] [--reps 7]

100 000 x 384 float32 unit rows, top-10 inner product (= cosine), single
queries and batches of 64. Reports medians, ratios against the targets of the
memory issue, int8 recall@10 against float32, and the first-query latency of a
fresh process with a warm and with a cold Numba cache. Timings are medians of
``--reps`` runs on whatever machine this is; rerun before trusting a small
difference. Nothing here is asserted; `tests/memory/` checks correctness.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from o_lisp.memory import _kernels as K

Array = np.ndarray[Any, Any]


def median_ms(fn: Callable[[], object], reps: int) -> float:
    fn()  # warm-up (JIT load, page faults, BLAS thread start)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def dataset(n: int, d: int, nq: int, seed: int = 0) -> tuple[Array, Array]:
    """Clustered unit vectors (like real embeddings), queries near stored rows."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((max(1, n // 100), d)).astype(np.float32)
    m = centers[rng.integers(0, len(centers), n)] + 0.6 * rng.standard_normal((n, d)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    q = m[rng.integers(0, n, nq)] + 0.3 * rng.standard_normal((nq, d)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return np.ascontiguousarray(m), np.ascontiguousarray(q.astype(np.float32))


def numpy_topk(m: Array, q: Array, k: int) -> Array:
    s = m @ q
    i = np.argpartition(-s, k)[:k]
    return i[np.argsort(-s[i])]


def numpy_topk_batch(m: Array, qs: Array, k: int) -> Array:
    s = qs @ m.T
    i = np.argpartition(-s, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(s, i, axis=1), axis=1)
    return np.take_along_axis(i, order, axis=1)


FRESH = """
import time, numpy as np
t0 = time.perf_counter()
from o_lisp.memory import _kernels as K
m = np.random.default_rng(0).standard_normal((1000, {d})).astype(np.float32)
t1 = time.perf_counter()
K.topk_float32(m, m[0], 10)
t2 = time.perf_counter()
print((t1 - t0) * 1e3, (t2 - t1) * 1e3)
"""


def fresh_process(d: int, cache_dir: str | None) -> tuple[float, float]:
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    out = subprocess.run([sys.executable, "-c", FRESH.format(d=d)], capture_output=True, text=True,
                         env=env, cwd=root, check=True)
    imp, first = out.stdout.split()
    return float(imp), float(first)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--queries", type=int, default=20, help="distinct single queries cycled through")
    ap.add_argument("--no-fresh", action="store_true", help="skip the fresh-process measurements")
    ap.add_argument("--json", help="write all figures to this file")
    args = ap.parse_args()
    n, d, k, nb = args.n, args.dim, args.k, args.batch

    import numba

    print(f"vector search: n={n} dim={d} k={k} batch={nb}, median of {args.reps}, "
          f"{numba.get_num_threads()} numba threads, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}")
    K.warm_up()
    m, qs = dataset(n, d, max(nb, args.queries))
    batch = qs[:nb]
    q8, s8 = K.quantize_rows(m)
    cyc = {"i": 0}

    def next_q() -> Array:
        cyc["i"] = (cyc["i"] + 1) % args.queries
        return qs[cyc["i"]]

    res: dict[str, float] = {}
    res["numba_f32"] = median_ms(lambda: K.topk_float32(m, next_q(), k), args.reps)
    res["numpy"] = median_ms(lambda: numpy_topk(m, next_q(), k), args.reps)
    res["numba_i8"] = median_ms(lambda: K.topk_int8(q8, s8, next_q(), k), args.reps)
    res["numba_f32_batch"] = median_ms(lambda: K.topk_float32_batch(m, batch, k), args.reps)
    res["numpy_batch"] = median_ms(lambda: numpy_topk_batch(m, batch, k), args.reps)
    res["numba_i8_batch"] = median_ms(lambda: K.topk_int8_batch(q8, s8, batch, k), args.reps)
    try:
        import faiss

        index = faiss.IndexFlatIP(d)
        index.add(m)
        res["faiss"] = median_ms(lambda: index.search(next_q()[None, :], k), args.reps)
        res["faiss_batch"] = median_ms(lambda: index.search(batch, k), args.reps)
        faiss_version = faiss.__version__
    except ImportError:
        faiss_version = "not installed (pip install -e '.[bench]')"

    # Correctness while we are here: Numba float32 == NumPy; int8 recall@10 vs float32.
    exact = [K.topk_float32(m, q, k)[0] for q in batch]
    agree = np.mean([np.array_equal(e, numpy_topk(m, q, k)) for e, q in zip(exact, batch, strict=True)])
    i8 = K.topk_int8_batch(q8, s8, batch, k)
    recall = float(np.mean([len(set(e.tolist()) & set(a.tolist())) / k for e, (a, _) in zip(exact, i8, strict=True)]))
    rng = np.random.default_rng(1)
    rnd = rng.standard_normal((n, d)).astype(np.float32)
    rnd /= np.linalg.norm(rnd, axis=1, keepdims=True)
    rq8, rs8 = K.quantize_rows(rnd)
    rrec = float(np.mean([len(set(K.topk_float32(rnd, q, k)[0].tolist()) & set(K.topk_int8(rq8, rs8, q, k)[0].tolist())) / k
                          for q in batch[:16]]))

    print(f"\n{f'single query, top-{k}':<28}{'ms':>9}")
    for name in ("numba_f32", "numba_i8", "numpy", "faiss"):
        if name in res:
            print(f"  {name:<26}{res[name]:9.2f}")
    print(f"{f'batch of {nb}, top-{k}':<28}{'ms':>9}{'ms/query':>10}")
    for name in ("numba_f32_batch", "numba_i8_batch", "numpy_batch", "faiss_batch"):
        if name in res:
            print(f"  {name:<26}{res[name]:9.2f}{res[name] / nb:10.3f}")
    print(f"\nfaiss: {faiss_version}; numba float32 ids identical to numpy on {agree * 100:.0f}% of {nb} queries")

    def verdict(ok: bool) -> str:
        return "meets target" if ok else "MISSES target"

    sp = res["numpy"] / res["numba_f32"]
    print(f"single f32: numba {sp:.2f}x faster than numpy ({verdict(sp >= 1.5)} >= 1.5x)")
    if "faiss" in res:
        fr = res["numba_f32"] / res["faiss"]
        print(f"single f32: numba time = {fr:.2f}x faiss ({verdict(fr <= 1.5)} <= 1.5x)")
        print(f"batch f32:  numba time = {res['numba_f32_batch'] / res['faiss_batch']:.2f}x faiss, "
              f"{res['numpy_batch'] / res['numba_f32_batch']:.2f}x faster than numpy")
    i8s = res["numba_f32"] / res["numba_i8"]
    print(f"int8: recall@10 vs float32 {recall:.3f} (clustered data), {rrec:.3f} (uniform random); "
          f"{i8s:.2f}x float32 speed ({verdict(recall >= 0.95 and i8s >= 2)} >= 0.95 at >= 2x); "
          f"batch {res['numba_f32_batch'] / res['numba_i8_batch']:.2f}x")
    out: dict[str, Any] = {"ms": res, "recall_int8": recall, "recall_int8_random": rrec}
    if not args.no_fresh:
        warm = [fresh_process(d, None) for _ in range(3)]
        with tempfile.TemporaryDirectory() as cold_dir:
            cold = fresh_process(d, cold_dir)
        wi, wf = statistics.median(w[0] for w in warm), statistics.median(w[1] for w in warm)
        print(f"fresh process, first query (1000 x {d}): warm cache {wf:.0f} ms (import {wi:.0f} ms), "
              f"cold cache {cold[1]:.0f} ms (import {cold[0]:.0f} ms) -> "
              f"{verdict(wf < cold[1] / 5)}: no JIT with a warm cache")
        out["fresh"] = {"warm_first_ms": wf, "warm_import_ms": wi, "cold_first_ms": cold[1]}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
