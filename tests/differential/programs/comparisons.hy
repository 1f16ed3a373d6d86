;; Differential programs: comparisons, membership, subscripts and literal sets/dicts
;; whose operands are variables, so they take the compiled type test and, for two
;; containers, the measuring helper (`_o_compare`, `_o_contains`, `_o_key`).

;;; compare-nan
(setv nan (float "nan") xs [nan] ys [nan])
[(= nan nan) (!= nan nan) (< nan 1) (= xs xs) (= xs ys) (= [nan] [nan]) (in nan xs) (= #(nan) #(nan))]

;;; compare-int-float-bool
(setv i 1 f 1.0 b True z 0 fz -0.0)
[(= i f) (= i b) (= b f) (< z b) (= z fz) (>= b i) (in b [1 2]) (in f #{1}) (get {1 "one"} b) (get {1 "one"} f)]

;;; compare-tuples-and-lists
(setv t #(1 2) l [1 2] t2 #(1 2) l2 [1 3])
[(= t l) (!= t l) (= t t2) (= l l2) (< l l2) (<= t t2) (> l2 l) (= [t] [t2]) (= {1 t} {1 t2}) (in l [l2 l]) (not-in t [l])]

;;; compare-mixed-order-error
(setv a [1 2] b #(1 2))
(try (< a b) (except [e TypeError] "TypeError"))

;;; compare-nested-containers
(setv a [[1 [2 #(3 4)]] {"k" #{5}}] b [[1 [2 #(3 4)]] {"k" #{5}}] c [[1 [2 #(3 5)]] {"k" #{5}}])
[(= a b) (!= a c) (< (get a 0) (get c 0)) (in (get b 0) a) (= (get a 1) (get b 1))]

;;; compare-chained
(setv a [1] b [1] c [2] n 3)
[(= a b a) (< a c [3]) (<= 1 n 3) (< 1 n 2) (chainc a = b < c) (chainc a is a = b)]

;;; compare-hy-models
(setv s 'foo e '(1 2) l '[1 2] k :k)
[(= s 'foo) (= s "foo") (= e '(1 2)) (= e l) (= k :k) (in 'foo [s]) (in e ['(1 2)]) (= e #(1 2))]

;;; tuple-keys
(setv d {#(1 2) "a" #("x" #(3)) "b"} k #(1 2) k2 (tuple ["x" #(3)]))
(setv (get d #(4)) "c")
(+= (get d #(4)) "!")
[(get d k) (get d k2) (.get d (tuple [1 2])) (.get d #(9) "none") (in k d) (not-in #(4) d) (get d #(4))
 (.setdefault d #(5 5) "e") (.pop d #(5 5)) (sorted (.values d))]

;;; set-and-dict-literals-with-variables
(setv a #(1 2) b #(1 2) c "c")
[(len #{a b c}) (len {a 1 b 2 c 3}) (get {a 1 b 2} a) (len (sfor x [a b] x)) (get (dfor x [a b] x (len x)) b)
 (len #{#* [a b]}) (do (setv s (set)) (.add s a) (.add s b) (.discard s a) (len s))]

;;; max-min-sort-keys
(setv rows [[2 "b"] [1 "a"] [2 "a"]])
[(max rows :key (fn [r] #((get r 0) (get r 1)))) (min rows :key (fn [r] (list r)))
 (do (setv r (list rows)) (.sort r :key (fn [x] #((- (get x 0)) (get x 1)))) r)]
