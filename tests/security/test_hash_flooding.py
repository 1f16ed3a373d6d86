"""Issue 12, family 2: hash flooding.

CPython hashes ints modulo 2**61-1, so the multiples of that prime all hash alike,
and so do one-element tuples of them. Turning 200,000 of them into a set in one
C call costs 2*10^10 comparisons that no step would interrupt. Every bulk
insertion of program values (constructors, `update`, set operations) counts the
hashes first and charges or refuses the collisions; insertions one at a time
(`sfor`, `.add` in a loop) tick per item, so the time limit stops them.
Each attempt runs five times in one interpreter in a watched child (`_repeat`).
"""

from __future__ import annotations

import pytest
from _repeat import Attempt, limit, run  # tests/security is on sys.path (rootdir-relative import)

from o_lisp import Interpreter, Limits

# 200,000 distinct ints with one hash, and one-element tuples of them.
FLOOD = "(setv P (- (** 2 61) 1) xs (lfor i (range 1 200001) (* i P)) ts (lfor x xs #(x)))"
# Refused by the collision count; "time" when a loaded machine is still building the
# 200,000 values when the time limit passes (both close the attempt).
STEPS = limit("steps", "time")

ATTEMPTS = {
    "set": Attempt("(len (set xs))", STEPS, setup=FLOOD),
    "frozenset": Attempt("(len (frozenset xs))", STEPS, setup=FLOOD),
    "set-of-tuples": Attempt("(len (set ts))", STEPS, setup=FLOOD),
    "dict-from-pairs": Attempt("(len (dict (lfor x xs #(x 1))))", STEPS, setup=FLOOD),
    "set-update": Attempt("(len (doto (set) (.update xs)))", STEPS, setup=FLOOD),
    "dict-update-with-dict-arg": Attempt(
        "(len (doto {} (.update (dfor x (cut xs 3000) x 1)) (.update (dfor x (cut xs 3000 None) x 1))))",
        limit("steps", "time"),
        setup=FLOOD,
    ),
    "set-union": Attempt("(len (.union (set) xs))", STEPS, setup=FLOOD),
    "set-issubset": Attempt("(.issubset #{1} xs)", STEPS, setup=FLOOD),
    # One insertion at a time: each costs one step and at most one scan, so the time
    # limit ends them (the flood is quadratic in total, not in one call).
    "sfor": Attempt("(len (sfor x xs x))", limit("time"), setup=FLOOD),
    "add-in-a-loop": Attempt("(do (setv s (set)) (for [x xs] (.add s x)) (len s))", limit("time"), setup=FLOOD),
}


@pytest.mark.timeout(200)
@pytest.mark.parametrize("name", sorted(ATTEMPTS))
def test_flooding_is_charged_or_refused(name: str) -> None:
    run(ATTEMPTS[name])


def test_duplicates_and_ordinary_keys_are_not_refused() -> None:
    """Positive controls: equal values share a hash legitimately (one probe each),
    and ints below 2**61-1 hash to themselves."""
    interp = Interpreter(limits=Limits(time=20))
    assert interp.eval("(len (set (lfor i (range 100000) (% i 1000))))") == 1000
    assert interp.eval("(len (set (lfor i (range 100000) (* i 7))))") == 100000
    assert interp.eval("(len (frozenset (lfor i (range 50000) #(i (% i 3)))))") == 50000
    assert interp.eval('(len (dict (lfor i (range 50000) #((str i) i))))') == 50000
    assert interp.eval("(len (set (lfor i (range 20000) (/ i 7))))") == 20000


def test_a_small_flood_costs_steps() -> None:
    """5,000 colliding values are let through but cost about 5000*5000 steps."""
    source = "(setv P (- (** 2 61) 1)) (len (set (lfor i (range 1 5001) (* i P))))"
    assert Interpreter(limits=Limits(steps=30_000_000, time=60)).eval(source) == 5000
    with pytest.raises(Exception) as caught:
        Interpreter(limits=Limits(steps=20_000_000, time=60)).eval(source)
    assert getattr(caught.value, "limit", None) == "steps"
