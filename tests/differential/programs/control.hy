;; Differential programs: conditionals, boolean logic, loops.

;;; if-true
(if True "yes" "no")

;;; if-falsy-values
(lfor x [0 "" [] None 0.0 {} False 1] (if x "t" "f"))

;;; if-nested
(setv n 15)
(if (= (% n 15) 0) "fizzbuzz" (if (= (% n 3) 0) "fizz" (if (= (% n 5) 0) "buzz" n)))

;;; when-true-false
[(when True 1 2 3) (when False 1)]

;;; cond-basic
(defn classify [n]
  (cond
    (< n 0) "negative"
    (= n 0) "zero"
    (< n 10) "small"
    True "large"))
(lfor n [-5 0 3 42] (classify n))

;;; cond-no-match
(cond False 1 (= 1 2) 2)

;;; cond-empty
(cond)

;;; do-returns-last
(do 1 2 3)

;;; do-empty
(do)

;;; and-or-values
[(and 1 2 3) (and 1 0 3) (and) (or None 0 "x") (or) (or None False) (or 0 [] "")]

;;; and-or-short-circuit
(setv log [])
(defn t [x] (.append log x) x)
(and (t 1) (t 0) (t 2))
(or (t None) (t 5) (t 6))
log

;;; not-values
[(not 0) (not 1) (not None) (not []) (not "a")]

;;; and-single
[(and 5) (or 5)]

;;; in-not-in
[(in 1 [1 2]) (in "ell" "hello") (not-in "z" "abc") (in "k" {"k" 1}) (in 3 #{1 2}) (not-in 1 [1])]

;;; is-is-not
(setv a [1] b a)
[(is None None) (is a b) (is [] []) (is-not a [1]) (is-not None None) (is True True)]

;;; is-chained
(setv x None y None)
(is x y None)

;;; for-basic
(setv total 0)
(for [x [1 2 3 4]] (+= total x))
total

;;; for-nested-clauses
(setv out [])
(for [x (range 3) y "ab"] (.append out (+ (str x) y)))
out

;;; for-with-if
(setv out [])
(for [x (range 10) :if (= (% x 3) 0)] (.append out x))
out

;;; for-with-setv-clause
(setv out [])
(for [x (range 4) :setv y (* x x)] (.append out y))
out

;;; for-destructure
(setv out [])
(for [[k v] (.items {"a" 1 "b" 2})] (.append out (+ k (str v))))
out

;;; for-else
(setv out [])
(for [x [1 2 3]] (.append out x) (else (.append out "done")))
out

;;; for-else-break
(setv out [])
(for [x [1 2 3]] (when (= x 2) (break)) (.append out x) (else (.append out "done")))
out

;;; for-continue
(setv out [])
(for [x (range 6)] (when (% x 2) (continue)) (.append out x))
out

;;; for-break-inner-only
(setv out [])
(for [i (range 3)]
  (for [j (range 3)]
    (when (> j i) (break))
    (.append out #(i j))))
out

;;; for-returns-none
(for [x [1]] x)

;;; for-enumerate
(setv out [])
(for [[i c] (enumerate "abc" 1)] (.append out [i c]))
out

;;; for-zip
(lfor [a b] (zip [1 2 3] "xyz") (+ (str a) b))

;;; while-basic
(setv i 0 out [])
(while (< i 5) (.append out i) (+= i 1))
out

;;; while-break-continue
(setv i 0 out [])
(while True
  (+= i 1)
  (when (> i 10) (break))
  (when (% i 2) (continue))
  (.append out i))
out

;;; while-else
(setv i 0 out [])
(while (< i 3) (+= i 1) (else (.append out "else")))
[i out]

;;; while-else-break
(setv i 0 out [])
(while (< i 3) (+= i 1) (when (= i 2) (break)) (else (.append out "else")))
[i out]

;;; while-returns-none
(setv i 0)
(while (< i 2) (+= i 1))

;;; return-from-loop
(defn find-first [pred xs]
  (for [x xs]
    (when (pred x) (return x)))
  "none")
[(find-first (fn [x] (> x 2)) [1 2 3 4]) (find-first (fn [x] (> x 10)) [1 2])]

;;; return-from-while
(defn f []
  (setv i 0)
  (while True
    (+= i 1)
    (when (= i 7) (return (* i 2)))))
(f)

;;; return-bare
(defn f [] (return) 5)
(f)

;;; early-return-in-if
(defn sign [n]
  (when (< n 0) (return -1))
  (when (= n 0) (return 0))
  1)
(list (map sign [-3 0 8]))

;;; collatz-loop
(defn collatz [n]
  (setv steps 0)
  (while (!= n 1)
    (setv n (if (% n 2) (+ (* 3 n) 1) (// n 2)))
    (+= steps 1))
  steps)
(lfor n [1 6 7 27] (collatz n))

;;; fizzbuzz
(lfor n (range 1 16)
  (cond (= 0 (% n 15)) "FizzBuzz"
        (= 0 (% n 3)) "Fizz"
        (= 0 (% n 5)) "Buzz"
        True n))

;;; any-all
[(any [0 0 1]) (any []) (all [1 2 3]) (all []) (all [1 0]) (any (gfor x (range 5) (> x 3)))]

;;; nested-loop-accumulate
(setv grid [[1 2 3] [4 5 6] [7 8 9]])
(setv diag 0)
(for [i (range 3)] (+= diag (get grid i i)))
diag

;;; when-none-in-arith-error
(+ 1 (if (> 3 2) 10 20) (when False 5 ) 0)

;;; if-in-expression-position
(+ 1 (if (> 3 2) 10 20) (if (< 3 2) 100 0))
