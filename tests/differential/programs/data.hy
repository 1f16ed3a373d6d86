;; Differential programs: setv, destructuring, let, get/cut/del, collections, comprehensions.

;;; setv-multiple-pairs
(setv a 1 b 2 c (+ a b))
[a b c]

;;; setv-returns-none
(setv x 5)

;;; setv-destructure-list
(setv [a b c] [1 2 3])
[c b a]

;;; setv-destructure-nested
(setv [a [b c] d] [1 [2 3] 4])
[a b c d]

;;; setv-destructure-star
(setv [first #* rest] [1 2 3 4])
[first rest]

;;; setv-destructure-star-middle
(setv [a #* mid z] "abcde")
[a mid z]

;;; setv-destructure-string
(setv [x y] "hi")
(+ y x)

;;; setv-destructure-mismatch
(setv [a b] [1 2 3])

;;; setv-swap
(setv a 1 b 2)
(setv [a b] [b a])
[a b]

;;; setv-get-dict
(setv d {})
(setv (get d "k") 1)
(setv (get d "j") [0 0])
(setv (get d "j" 1) 9)
d

;;; setv-get-list
(setv xs [0 0 0])
(setv (get xs 1) "x" (get xs -1) "z")
xs

;;; setv-get-index-error
(setv xs [1])
(setv (get xs 5) 2)

;;; let-basic
(let [x 1 y 2] (+ x y))

;;; let-sequential
(let [x 2 y (* x 10)] [x y])

;;; let-shadows-outer
(setv x "outer")
(setv r (let [x "inner"] x))
[r x]

;;; let-nested-closure
(let [n 10]
  (setv f (fn [y] (+ n y))))
(f 5)

;;; let-destructure
(let [[a b] [1 2]] (- a b))

;;; let-empty-bindings
(let [] 42)

;;; get-nested
(setv m {"a" [10 {"b" "deep"}]})
[(get m "a" 1 "b") (get [[1 2] [3 4]] 1 0) (get "abc" -1)]

;;; get-missing-key
(get {"a" 1} "b")

;;; get-index-error
(get [1 2] 2)

;;; get-tuple-key
(setv d {#(1 2) "pair"})
(get d #(1 2))

;;; cut-list
(setv xs (list (range 10)))
[(cut xs 3) (cut xs 2 5) (cut xs 1 None 3) (cut xs None None -1) (cut xs -3 None) (cut xs)]

;;; cut-string
[(cut "hello" 1 -1) (cut "hello" None None 2) (cut "hello" 10 20)]

;;; del-dict-list
(setv d {"a" 1 "b" 2} xs [1 2 3 4])
(del (get d "a") (get xs 0))
[d xs]

;;; del-variable
(setv x 1)
(del x)
x

;;; del-cut
(setv xs (list (range 8)))
(del (cut xs 2 5))
xs

;;; del-missing-key
(setv d {})
(del (get d "nope"))

;;; list-methods
(setv xs [3 1 2])
(.append xs 4)
(.extend xs [5 6])
(.insert xs 0 0)
(setv popped (.pop xs))
(.remove xs 1)
[xs popped (.index xs 2) (.count [1 1 2] 1)]

;;; list-reverse-sort-copy
(setv xs [3 1 2])
(setv ys (.copy xs))
(.reverse xs)
(setv zs (.copy ys))
(.sort zs :reverse True)
[xs ys zs]

;;; list-pop-index-clear
(setv xs [1 2 3 4])
(setv a (.pop xs 0))
(setv b (.pop xs -2))
(setv snapshot (list xs))
(.clear xs)
[a b snapshot xs]

;;; list-pop-empty
(.pop [])

;;; list-index-missing
(.index [1 2 3] 9)

;;; list-remove-missing
(.remove [1 2] 3)

;;; dict-methods
(setv d {"a" 1 "b" 2})
[(list (.keys d)) (list (.values d)) (list (.items d)) (.get d "a") (.get d "z") (.get d "z" 0)]

;;; dict-update-setdefault-pop
(setv d {"a" 1})
(.update d {"b" 2 "c" 3})
(.setdefault d "a" 100)
(.setdefault d "z" 26)
(setv p (.pop d "b"))
(setv q (.pop d "nope" "dflt"))
[d p q]

;;; dict-pop-missing
(.pop {} "k")

;;; dict-copy-clear
(setv d {1 2})
(setv e (.copy d))
(.clear d)
[d e]

;;; dict-insertion-order
(setv d {})
(for [k ["z" "a" "m"]] (setv (get d k) (len d)))
(setv (get d "z") 99)
d

;;; dict-constructor-kwargs
[(dict :a 1 :b 2) (dict [#("x" 1) #("y" 2)]) (dict)]

;;; dict-len-in-iteration
(setv d {"a" 1 "b" 2 "c" 3})
[(len d) (lfor k d k) (sum (.values d))]

;;; dict-int-keys
{1 "one" 2 "two" True "true-overwrites-1"}

;;; dict-count-words
(setv counts {})
(for [w (.split "the cat and the dog and the bird")]
  (setv (get counts w) (+ (.get counts w 0) 1)))
counts

;;; set-methods
(setv s #{1 2 3})
(.add s 4)
(.discard s 1)
(.discard s 100)
[s (.union s #{9}) (.intersection s #{2 3 7}) (.difference s #{2}) (.issubset #{2} s)]

;;; set-operators
(setv a #{1 2 3} b #{2 3 4})
[(| a b) (& a b) (- a b) (^ a b)]

;;; set-remove-missing
(.remove #{1} 2)

;;; set-dedup
(sorted (set [3 1 3 2 1]))

;;; set-strings-sorted
(sorted #{"pear" "apple" "fig"})

;;; tuple-basics
(setv t #(1 2 3))
[(get t 0) (len t) (+ t #(4)) (.index t 2) (.count t 1) (tuple [1 2]) #()]

;;; tuple-immutable
(setv t #(1 2))
(setv (get t 0) 5)

;;; frozenset-value
(frozenset [1 2 2])

;;; nested-structures
{"list" [1 [2 #(3 #{4})]] "dict" {"k" {"kk" None}} "empty" [[] {} #()]}

;;; len-various
[(len "abc") (len [1 2]) (len {}) (len #{1}) (len #(1 2 3)) (len (range 10))]

;;; len-type-error
(len 5)

;;; range-variants
[(list (range 5)) (list (range 2 8 2)) (list (range 5 0 -1)) (list (range 0))]

;;; reversed-enumerate-zip
[(list (reversed [1 2 3])) (list (enumerate "ab")) (list (zip [1 2 3] [4 5]))]

;;; iter-next
(setv it (iter [1 2]))
[(next it) (next it) (next it "end")]

;;; next-stop-iteration
(next (iter []))

;;; range-object-cut
(list (cut (range 100) 10 20 3))

;;; lfor-basic
(lfor x (range 5) (* x x))

;;; lfor-multiple-clauses
(lfor x (range 3) y (range 3) :if (!= x y) [x y])

;;; lfor-setv-clause
(lfor x (range 6) :setv y (* x x) :if (> y 5) y)

;;; lfor-do-clause
(setv seen [])
(setv r (lfor x (range 3) :do (.append seen (- x)) (* 2 x)))
[r seen]

;;; lfor-if-between-fors
(lfor x (range 4) :if (% x 2) y "ab" (+ (str x) y))

;;; lfor-destructure
(lfor [k v] (.items {"a" 1 "b" 2}) (+ k "=" (str v)))

;;; lfor-nested-lfor
(lfor row (range 3) (lfor col (range row) col))

;;; dfor-basic
(dfor x (range 4) x (* x x))

;;; dfor-with-if
(dfor [k v] (.items {"a" 1 "b" 2 "c" 3}) :if (!= k "b") v k)

;;; sfor-basic
(sfor x [1 2 2 3 3 3] (* x 10))

;;; gfor-basic
(setv g (gfor x (range 5) :if (% x 2) (* x 100)))
(list g)

;;; gfor-sum
(sum (gfor x (range 101) x))

;;; gfor-lazy
(setv log [])
(setv g (gfor x (range 3) (do (.append log x) x)))
(setv before (list log))
(setv first-val (next g))
[before first-val log]

;;; comprehension-scope
(setv x "outer")
(lfor x (range 3) x)
x

;;; matrix-transpose
(setv m [[1 2 3] [4 5 6]])
(lfor i (range 3) (lfor row m (get row i)))

;;; zip-star-transpose
(list (map list (zip #* [[1 2 3] [4 5 6]])))

;;; isinstance-checks
[(isinstance 1 int) (isinstance True int) (isinstance "s" str) (isinstance [] #(list tuple))
 (isinstance 1.0 int) (isinstance {} dict)]

;;; str-of-collections
[(str [1 "a" None]) (str {"k" 1}) (str #(1)) (repr "q") (str None) (str True)]

;;; hash-equal-values
(= (hash 1) (hash 1.0) (hash True))
