"""o_lisp: an embedded, sandboxed Lisp with Hy syntax.

The public API is small and re-exported here; everything in underscore
modules is private and may change.
"""

from o_lisp._errors import (
    CompileError,
    InstallationError,
    LimitExceeded,
    LispError,
    OLispError,
    Position,
    ProgramError,
    ReadError,
    SandboxViolation,
)
from o_lisp._evalthread import run_on_deep_thread as run_on_deep_stack
from o_lisp._interpreter import Interpreter
from o_lisp._limits import Limits
from o_lisp._mangle import mangle, unmangle
from o_lisp._printer import hy_repr, to_source
from o_lisp._reader import PrematureEndOfInput, read, read_many

__version__ = "0.1.0"

__all__ = [
    "CompileError",
    "InstallationError",
    "Interpreter",
    "LimitExceeded",
    "Limits",
    "LispError",
    "OLispError",
    "Position",
    "PrematureEndOfInput",
    "ProgramError",
    "ReadError",
    "SandboxViolation",
    "__version__",
    "hy_repr",
    "mangle",
    "read",
    "read_many",
    "run_on_deep_stack",
    "to_source",
    "unmangle",
]
