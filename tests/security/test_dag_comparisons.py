"""Issue 12, family 1: comparisons, subscripts, key methods and set/dict literals.

These compile to inline Python operations (`a == b`, `d[k]`, `{k: v}`), which walk
two distinct equal DAGs, or hash a tuple key's whole expansion, in C. Compiled code
lets scalars through with one inline type test and passes anything else through a
helper that measures the expansion first (`Runtime.compare`, `.contains`, `.key`).
Each attempt must end with `LimitExceeded` every time in five runs in one interpreter
(`_repeat`).
"""

from __future__ import annotations

import pytest
from _repeat import Attempt, limit, run  # tests/security is on sys.path (rootdir-relative import)

from o_lisp import Interpreter, LimitExceeded, Limits

# t, t2: distinct equal tuples; l, l2: distinct equal lists; each has 10^12 leaves
# in four distinct containers.
DAG = (
    "(setv t #(1) t2 #(1) l [1] l2 [1]) "
    "(for [_ (range 4)] (setv t (* #(t) 1000) t2 (* #(t2) 1000) l (* [l] 1000) l2 (* [l2] 1000)))"
)

SIZE = limit("size")
ATTEMPTS = {
    # comparisons
    "equal-lists": "(= l l2)",
    "equal-tuples": "(= t t2)",
    "not-equal": "(!= l l2)",
    "less": "(< l l2)",
    "less-equal": "(<= t t2)",
    "greater": "(> l l2)",
    "greater-equal": "(>= t t2)",
    "equal-nested-in-fresh-list": "(= [l] [l2])",
    "equal-chain": "(= l l2 1)",
    "chainc": "(chainc l <= l2)",
    "assert-equal": "(assert (= l l2))",
    "equal-in-comprehension": "(lfor x [l] (= x l2))",
    "equal-in-function": "(defn f [a b] (= a b)) (f t t2)",
    # membership
    "in-list": "(in l2 [1 l])",
    "not-in-list": "(not-in l2 [1 l])",
    "in-tuple": "(in t2 #(1 t))",
    "in-set": "(in t (set [1]))",
    "in-dict": "(in t {1 2})",
    "not-in-dict": "(not-in t {1 2})",
    # subscripts
    "get-tuple-key": "(get {1 2} t)",
    "get-nested-key": "(get {1 {2 3}} 1 t)",
    "get-computed-key": "(get {1 2} (tuple [t]))",
    "setv-get": "(setv d {}) (setv (get d t) 1)",
    "setv-get-existing": "(setv d {1 2}) (setv (get d t2) 1)",
    "augmented-get": "(setv d {}) (+= (get d t) 1)",
    "del-get": "(setv d {}) (del (get d t))",
    # key methods
    "dict-get": "(.get {} t)",
    "dict-get-default": "(.get {1 2} t2 0)",
    "dict-pop": "(.pop {1 2} t None)",  # an empty dict returns the default without hashing
    "dict-setdefault": "(.setdefault {} t 1)",
    "set-add": "(.add (set) t)",
    "set-add-in-loop": "(setv s (set)) (for [x [t]] (.add s x))",
    "set-discard": "(.discard (set) t)",
    "dict-get-spread": "(.get {} #* [t])",
    # literals and comprehensions
    "set-literal": "#{1 t}",
    "set-literal-starred": "#{#* [t]}",
    "dict-literal": "{t 1}",
    "sfor": "(sfor x [t] x)",
    "dfor": "(dfor x [t] x 1)",
    "set-union-operator": "(| #{t} #{t2})",
    # orderings with a key function
    "max-key": "(max [1 2] :key (fn [x] (if (= x 1) l l2)))",
    "min-key": "(min 1 2 :key (fn [x] (if (= x 1) t t2)))",
    "list-sort-key": "(.sort [1 2] :key (fn [x] (if (= x 1) l l2)))",
    "sorted-key": "(sorted [1 2] :key (fn [x] (if (= x 1) l l2)))",
}


@pytest.mark.timeout(200)
@pytest.mark.parametrize("name", sorted(ATTEMPTS))
def test_comparison_and_hash_are_charged_before_the_walk(name: str) -> None:
    run(Attempt(ATTEMPTS[name], SIZE, setup=DAG))


def test_small_structures_compare_and_hash_as_before() -> None:
    """Positive control: ordinary containers compare, hash and index as in Python."""
    interp = Interpreter()
    program = """
    (setv a [1 [2 3]] b [1 [2 3]] d {#(1 2) "x" "k" 5} s #{#(1 2) "k"})
    [(= a b) (!= a b) (< a [1 [2 4]]) (>= #(1 2) #(1 2)) (= a b [1 [2 3]]) (chainc a = b)
     (in [2 3] a) (not-in #(1 2) s) (in #(1 2) d) (get d #(1 2)) (get d "k")
     (.get d (tuple [1 2])) (.get d #(9) 0) (.setdefault d #(3) 4) (.pop d #(3))
     (do (setv (get d #(4 4)) 1) (+= (get d #(4 4)) 1) (get d #(4 4)))
     (len #{#(1) #(1) (tuple [1])}) {#(1) 2} (sfor x [#(1) #(1)] x) (dfor x [#(1)] x 2)
     (= (* [[1]] 2000) (* [[1]] 2000)) (max [#(1 [2]) #(1 [3])]) (sorted [[2] [1]] :key (fn [x] #(x)))]
    """
    assert interp.eval(program) == [
        True, False, True, True, True, True,
        True, False, True, "x", 5,
        "x", 0, 4, 4,
        2,
        1, {(1,): 2}, {(1,)}, {(1,): 2},
        True, (1, [3]), [[1], [2]],
    ]


def test_large_comparison_is_charged_in_steps() -> None:
    """Comparing two equal lists of 10^5 small lists (3*10^5 nodes each) is allowed
    below max_size and costs a step per node: it fits a budget of 10^6 steps, and not
    one that only covers building the two lists (2*10^5 steps)."""
    program = "(setv a (lfor i (range 100000) [i]) b (lfor i (range 100000) [i])) (= a b)"
    assert Interpreter(limits=Limits(steps=1_000_000)).eval(program) is True
    with pytest.raises(LimitExceeded) as caught:
        Interpreter(limits=Limits(steps=300_000)).eval(program)
    assert caught.value.limit == "steps"
