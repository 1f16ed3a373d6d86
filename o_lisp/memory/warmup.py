"""``python -m o_lisp.memory.warmup``: compile every vector-kernel signature into the cache.

Run once after installing (``make test`` and CI do) so that the first memory
search of every later process loads machine code from the cache instead of
spending seconds in the JIT. Prints the cache directory and, per kernel,
whether it was compiled now or loaded from the cache.
"""

from __future__ import annotations

import sys
import time


def main() -> int:
    start = time.perf_counter()
    from o_lisp.memory import CACHE_DIR  # timed: importing the package loads NumPy and Numba
    from o_lisp.memory._kernels import warm_up

    misses = warm_up()
    elapsed = time.perf_counter() - start
    print(f"numba cache: {CACHE_DIR}")
    for name, count in misses.items():
        print(f"  {name}: {'compiled' if count else 'loaded from cache'}")
    print(f"warm-up took {elapsed:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
