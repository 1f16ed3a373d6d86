;; Differential programs: defn/fn, argument kinds, closures, recursion, higher-order.

;;; defn-basic
(defn add [a b] (+ a b))
(add 2 3)

;;; defn-docstring
(defn f [x] "Double x." (* 2 x))
(f 21)

;;; defn-only-docstring-returns-none
(defn g [] "just a docstring")
(g)

;;; defn-empty-body
(defn f [])
(f)

;;; defn-optional-args
(defn f [a [b 2] [c 3]] [a b c])
[(f 1) (f 1 10) (f 1 10 100)]

;;; defn-optional-none-default
(defn f [a [b None]] [a b])
(f 1)

;;; defn-rest-args
(defn f [a #* rest] [a rest])
[(f 1) (f 1 2 3)]

;;; defn-kwargs
(defn f [#** kw] kw)
(f :x 1 :y 2)

;;; defn-all-arg-kinds
(defn f [a [b 2] #* args c [d 4] #** kw] [a b args c d kw])
[(f 1 :c 3) (f 1 2 3 4 :c 5 :d 6 :e 7)]

;;; defn-keyword-only
(defn f [a * b [c 3]] (+ a b c))
[(f 1 :b 2) (f 1 :b 2 :c 10)]

;;; defn-keyword-only-missing
(defn f [a * b] (+ a b))
(f 1)

;;; keyword-call-positional-params
(defn f [a b c] [a b c])
[(f 1 :c 3 :b 2) (f :a 1 :b 2 :c 3)]

;;; keyword-call-mangled-name
(defn f [long-name] (* 2 long-name))
(f :long-name 21)

;;; call-too-many-args
(defn f [a] a)
(f 1 2)

;;; call-missing-arg
(defn f [a b] a)
(f 1)

;;; call-unexpected-kwarg
(defn f [a] a)
(f 1 :z 2)

;;; call-unpack-args
(defn f [a b c] (+ a (* 10 b) (* 100 c)))
[(f #* [1 2 3]) (f 1 #* [2 3]) (f #** {"a" 1 "b" 2 "c" 3}) (f 1 #** {"c" 3 "b" 2})]

;;; call-unpack-multiple
(defn f [#* args #** kw] [args kw])
(f #* [1 2] 3 #* [4] :x 1 #** {"y" 2})

;;; fn-lambda
(setv sq (fn [x] (* x x)))
(sq 9)

;;; fn-immediately-invoked
((fn [x [y 1]] (- x y)) 10)

;;; fn-multi-body
((fn [] (setv a 1) (setv b 2) (+ a b)))

;;; fn-rest-kwargs
((fn [#* a #** k] [(len a) (sorted k)]) 1 2 3 :z 1 :a 2)

;;; closure-counter
(defn make-counter []
  (setv n 0)
  (defn inc []
    (nonlocal n)
    (+= n 1)
    n)
  inc)
(setv c1 (make-counter) c2 (make-counter))
[(c1) (c1) (c1) (c2)]

;;; closure-capture-loop
(setv fs (lfor i (range 3) (fn [[i i]] (* i 10))))
(lfor f fs (f))

;;; closure-late-binding
(setv fs [])
(for [i (range 3)] (.append fs (fn [] i)))
(lfor f fs (f))

;;; closure-adder
(defn adder [n] (fn [x] (+ x n)))
(setv add5 (adder 5))
[(add5 1) ((adder 10) 1)]

;;; closure-shared-state
(defn make-account [balance]
  (defn deposit [x] (nonlocal balance) (+= balance x) balance)
  (defn withdraw [x] (nonlocal balance) (-= balance x) balance)
  [deposit withdraw])
(setv [dep wd] (make-account 100))
(dep 50)
(wd 30)
(dep 0)

;;; nonlocal-nested-two-levels
(defn outer []
  (setv x 1)
  (defn middle []
    (defn inner []
      (nonlocal x)
      (setv x (* x 10)))
    (inner)
    (inner))
  (middle)
  x)
(outer)

;;; global-decl
(setv counter 0)
(defn bump [] (global counter) (+= counter 1))
(bump) (bump) (bump)
counter

;;; local-shadows-global
(setv x 1)
(defn f [] (setv x 2) x)
[(f) x]

;;; unbound-local-error
(setv x 1)
(defn f [] (+= x 1) x)
(f)

;;; recursion-factorial
(defn fact [n] (if (<= n 1) 1 (* n (fact (- n 1)))))
(fact 30)

;;; recursion-fib
(defn fib [n] (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))
(lfor i (range 15) (fib i))

;;; recursion-mutual
(defn even? [n] (if (= n 0) True (odd? (- n 1))))
(defn odd? [n] (if (= n 0) False (even? (- n 1))))
[(even? 10) (odd? 7) (even? 3)]

;;; recursion-ackermann
(defn ack [m n]
  (cond (= m 0) (+ n 1)
        (= n 0) (ack (- m 1) 1)
        True (ack (- m 1) (ack m (- n 1)))))
(ack 2 3)

;;; recursion-flatten
(defn flatten [x]
  (if (isinstance x list)
      (lfor y x z (flatten y) z)
      [x]))
(flatten [1 [2 [3 [4]] 5] [[6]]])

;;; recursion-hanoi
(defn hanoi [n from to via]
  (if (= n 0)
      []
      (+ (hanoi (- n 1) from via to) [#(from to)] (hanoi (- n 1) via to from))))
(len (hanoi 6 "a" "c" "b"))

;;; recursion-permutations
(defn perms [xs]
  (if (<= (len xs) 1)
      [xs]
      (lfor i (range (len xs))
            p (perms (+ (cut xs i) (cut xs (+ i 1) None)))
            (+ [(get xs i)] p))))
(perms [1 2 3])

;;; recursion-gcd
(defn gcd [a b] (if (= b 0) a (gcd b (% a b))))
[(gcd 48 18) (gcd 17 5) (gcd (** 2 64) (** 6 20))]

;;; higher-order-compose
(defn compose [#* fs]
  (fn [x]
    (for [f (reversed fs)] (setv x (f x)))
    x))
((compose (fn [x] (* x 2)) (fn [x] (+ x 1))) 5)

;;; higher-order-fold
(defn fold [f acc xs]
  (for [x xs] (setv acc (f acc x)))
  acc)
[(fold (fn [a b] (+ a b)) 0 (range 10)) (fold (fn [a b] (+ b a)) "" "abc")]

;;; higher-order-map-filter
[(list (map (fn [x] (* x x)) (range 5)))
 (list (filter (fn [x] (% x 2)) (range 10)))
 (list (map (fn [a b] (+ a b)) [1 2] [10 20]))]

;;; higher-order-filter-none
(list (filter None [0 1 "" "a" None 2]))

;;; higher-order-map-builtin
(list (map str [1 2 3]))

;;; functions-as-values-in-dict
(setv ops {"add" (fn [a b] (+ a b)) "mul" (fn [a b] (* a b))})
(lfor k ["add" "mul"] ((get ops k) 6 7))

;;; apply-partial-by-hand
(defn partial [f #* a1] (fn [#* a2] (f #* a1 #* a2)))
((partial max 3 9) 4 5)

;;; memoize-closure
(defn memo-fib []
  (setv cache {})
  (defn f [n]
    (when (in n cache) (return (get cache n)))
    (setv r (if (< n 2) n (+ (f (- n 1)) (f (- n 2)))))
    (setv (get cache n) r)
    r)
  f)
((memo-fib) 90)

;;; callable-check
[(callable len) (callable (fn [] 1)) (callable 5)]

;;; default-arg-evaluated-once
(defn f [[acc []]] (.append acc 1) (len acc))
[(f) (f) (f [])]

;;; recursion-depth-moderate
(defn count-down [n] (if (= n 0) "done" (count-down (- n 1))))
(count-down 200)

;;; dashed-underscore-same-name
(setv foo-bar 1)
(+= foo_bar 41)
foo-bar

;;; predicate-name-mangling
(defn zero? [x] (= x 0))
[(zero? 0) (zero? 1)]

;;; sorted-key-reverse
[(sorted [3 1 2]) (sorted [3 1 2] :reverse True) (sorted ["bb" "a" "ccc"] :key len)
 (sorted ["bb" "a" "ccc"] :key len :reverse True) (sorted "hello")]

;;; sorted-stable-key
(sorted [[1 "b"] [0 "z"] [1 "a"] [0 "y"]] :key (fn [p] (get p 0)))

;;; sorted-type-error
(sorted [1 "a" 2])

;;; list-sort-method-key
(setv xs [5 -3 2 -8])
(.sort xs :key abs)
xs
