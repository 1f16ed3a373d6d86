"""Worker processes: the only processes that run agent code.

The guardian (`o_lisp.guardian`) starts them with ``python -m o_lisp.worker`` and
talks to them only through the frame protocol (`o_lisp.guardian._protocol`); it never
imports this package. `_serve` is a worker's loop and the agent request handlers,
`_zygote` the fork server that starts workers, `_lab` the worker side of an
evolution cycle (shadows, canary, promotion). Nothing here is imported at package
import: the zygote sets the NumPy/Numba environment before the agent runtime loads.
"""
