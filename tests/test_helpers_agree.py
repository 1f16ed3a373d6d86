"""The compiler and the runtime agree on the `_o_*` helper names (`o_lisp/_helpers.py`)."""

from __future__ import annotations

import ast
from pathlib import Path

import o_lisp
from o_lisp import Interpreter
from o_lisp._helpers import COMPILER_LOCALS, FAMILIES, PREFIX, RUNTIME_HELPERS, is_family_member

PACKAGE = Path(o_lisp.__file__).parent


def _bound(interpreter: Interpreter) -> set[str]:
    return {name for name in {*interpreter.builtin_table, *interpreter.environment} if name.startswith(PREFIX)}


def _emitted() -> set[str]:
    """Every `_o_*` string the compiler's source holds (names, or prefixes it extends)."""
    tree = ast.parse((PACKAGE / "_compiler.py").read_text(encoding="utf-8"))
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(PREFIX)}


def test_every_name_the_runtime_binds_is_a_listed_helper_or_family_member() -> None:
    bound = _bound(Interpreter())
    assert sorted(n for n in bound if n not in RUNTIME_HELPERS and not is_family_member(n)) == []
    assert sorted(RUNTIME_HELPERS - bound) == []  # and every listed helper is bound


def test_every_name_the_compiler_emits_is_bound_or_its_own() -> None:
    prefixes = {PREFIX, *FAMILIES}
    unknown = sorted(n for n in _emitted() - RUNTIME_HELPERS - COMPILER_LOCALS - prefixes if not is_family_member(n))
    assert unknown == []


def test_the_compiler_uses_the_shared_constants() -> None:
    from o_lisp import _compiler, _helpers, _vet

    assert (_compiler.TICK, _compiler.METHOD, _vet.TICK) == (_helpers.TICK, _helpers.METHOD, _helpers.TICK)
    assert _compiler.vet is _vet.vet


def test_the_agreement_checks_see_a_stray_name() -> None:
    assert is_family_member("_o_m_upper") and is_family_member("_o_k12")
    assert not is_family_member("_o_surprise") and "_o_surprise" not in RUNTIME_HELPERS
