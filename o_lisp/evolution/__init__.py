"""Protected self-evolution (issue #5): candidates are compared with the running code before promotion.

`decide` turns side-by-side evidence (shadow workers, canary stages) into a
promote/reject `Decision`; `o_lisp.evolution._stats` holds the stdlib-only
statistics behind it.  Nothing here imports numpy: the guardian imports it.
"""

from o_lisp.evolution._decision import Decision, Samples, Thresholds, decide

__all__ = ["Decision", "Samples", "Thresholds", "decide"]
