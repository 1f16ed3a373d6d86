;; Differential programs: small algorithms mixing many constructs.

;;; sieve-of-eratosthenes
(defn primes [n]
  (setv is-prime (* [True] (+ n 1)))
  (setv (get is-prime 0) False (get is-prime 1) False)
  (for [i (range 2 (+ (int (** n 0.5)) 1))]
    (when (get is-prime i)
      (for [j (range (* i i) (+ n 1) i)]
        (setv (get is-prime j) False))))
  (lfor [i p] (enumerate is-prime) :if p i))
(primes 60)

;;; quicksort
(defn qsort [xs]
  (if (<= (len xs) 1)
      xs
      (do
        (setv [pivot #* rest] xs)
        (+ (qsort (lfor x rest :if (< x pivot) x))
           [pivot]
           (qsort (lfor x rest :if (>= x pivot) x))))))
(qsort [3 6 1 8 2 9 2 7 -1])

;;; merge-sort
(defn merge [a b]
  (setv out [] i 0 j 0)
  (while (and (< i (len a)) (< j (len b)))
    (if (<= (get a i) (get b j))
        (do (.append out (get a i)) (+= i 1))
        (do (.append out (get b j)) (+= j 1))))
  (+ out (cut a i None) (cut b j None)))
(defn msort [xs]
  (if (<= (len xs) 1)
      xs
      (do (setv mid (// (len xs) 2))
          (merge (msort (cut xs mid)) (msort (cut xs mid None))))))
(msort [5 2 4 7 1 3 2 6])

;;; binary-search
(defn bsearch [xs target]
  (setv lo 0 hi (- (len xs) 1))
  (while (<= lo hi)
    (setv mid (// (+ lo hi) 2))
    (cond (= (get xs mid) target) (return mid)
          (< (get xs mid) target) (setv lo (+ mid 1))
          True (setv hi (- mid 1))))
  -1)
(setv data (list (range 0 100 3)))
[(bsearch data 27) (bsearch data 28) (bsearch data 0) (bsearch data 99)]

;;; bubble-sort-in-place
(defn bubble [xs]
  (setv n (len xs))
  (for [i (range n)]
    (setv swapped False)
    (for [j (range (- n i 1))]
      (when (> (get xs j) (get xs (+ j 1)))
        (setv [(get xs j) (get xs (+ j 1))] [(get xs (+ j 1)) (get xs j)])
        (setv swapped True)))
    (unless-swapped swapped))
  xs)
(defn unless-swapped [s] None)
(bubble [5 1 4 2 8])

;;; word-frequency-top
(setv text "a b c a b a d e a b")
(setv freq {})
(for [w (.split text)] (setv (get freq w) (+ 1 (.get freq w 0))))
(cut (sorted (.items freq) :key (fn [kv] #((- (get kv 1)) (get kv 0)))) 3)

;;; matrix-multiply
(defn matmul [a b]
  (lfor row a
    (lfor col (zip #* b)
      (sum (gfor [x y] (zip row col) (* x y))))))
(matmul [[1 2] [3 4]] [[5 6] [7 8]])

;;; pascal-triangle
(defn pascal [n]
  (setv rows [[1]])
  (for [_ (range (- n 1))]
    (setv prev (get rows -1))
    (.append rows (+ [1] (lfor i (range (- (len prev) 1)) (+ (get prev i) (get prev (+ i 1)))) [1])))
  rows)
(pascal 6)

;;; run-length-encode
(defn rle [s]
  (setv out [])
  (for [c s]
    (if (and out (= (get out -1 0) c))
        (+= (get out -1 1) 1)
        (.append out [c 1])))
  (.join "" (lfor [c n] out (+ (str n) c))))
(rle "aaabccddddd")

;;; balanced-brackets
(defn balanced? [s]
  (setv stack [] pairs {")" "(" "]" "[" "}" "{"})
  (for [c s]
    (cond (in c "([{") (.append stack c)
          (in c ")]}") (when (or (not stack) (!= (.pop stack) (get pairs c)))
                         (return False))))
  (not stack))
(lfor s ["([]{})" "([)]" "((" "" "{[()()]}"] (balanced? s))

;;; roman-numerals
(defn roman [n]
  (setv table [[1000 "M"] [900 "CM"] [500 "D"] [400 "CD"] [100 "C"] [90 "XC"]
               [50 "L"] [40 "XL"] [10 "X"] [9 "IX"] [5 "V"] [4 "IV"] [1 "I"]])
  (setv out "")
  (for [[v s] table]
    (while (>= n v) (+= out s) (-= n v)))
  out)
(lfor n [1 4 9 14 40 90 400 1994 2024] (roman n))

;;; fib-iterative-bigint
(defn fib [n]
  (setv [a b] [0 1])
  (for [_ (range n)] (setv [a b] [b (+ a b)]))
  a)
(fib 150)

;;; digits-sum-power
(sum (map int (str (** 2 100))))

;;; group-by-first-letter
(setv groups {})
(for [w ["apple" "avocado" "banana" "blueberry" "cherry"]]
  (.append (.setdefault groups (get w 0) []) w))
groups

;;; dict-invert
(setv d {"a" 1 "b" 2 "c" 1})
(setv inv {})
(for [[k v] (.items d)] (.append (.setdefault inv v []) k))
inv

;;; stack-machine
(defn run [prog]
  (setv stack [])
  (for [op prog]
    (cond (isinstance op int) (.append stack op)
          (= op "+") (.append stack (+ (.pop stack) (.pop stack)))
          (= op "*") (.append stack (* (.pop stack) (.pop stack)))
          (= op "dup") (.append stack (get stack -1))
          True (raise (ValueError (+ "bad op " op)))))
  stack)
[(run [2 3 "+" "dup" "*"]) (try (run [1 "nop"]) (except [e ValueError] (str e)))]

;;; tiny-interpreter-quoted
(defn evaluate [expr env]
  (cond (isinstance expr hy.models.Symbol) (get env (str expr))
        (isinstance expr int) (int expr)
        True (do
               (setv [op #* args] expr)
               (setv vals (lfor a args (evaluate a env)))
               (cond (= op '+) (sum vals)
                     (= op '*) (do (setv r 1) (for [v vals] (*= r v)) r)
                     (= op '-) (- (get vals 0) (sum (cut vals 1 None)))))))
(evaluate '(+ 1 (* x 3) (- 10 y 1)) {"x" 4 "y" 2})

;;; generator-pipeline
(setv evens (gfor x (range 20) :if (= 0 (% x 2)) x))
(setv squares (gfor x evens (* x x)))
(list (gfor x squares :if (> x 50) x))

;;; nested-data-transform
(setv people [{"name" "ann" "age" 31} {"name" "bob" "age" 25} {"name" "cy" "age" 40}])
(dfor p (sorted people :key (fn [p] (get p "age"))) (get p "name") (>= (get p "age") 30))

;;; accumulate-running-totals
(setv total 0)
(lfor x [1 2 3 4 5] :do (+= total x) total)

;;; counter-with-closures-and-dict
(defn make-registry []
  (setv items {})
  (defn register [name [n 1]]
    (setv (get items name) (+ (.get items name 0) n))
    items)
  register)
(setv reg (make-registry))
(reg "a")
(reg "b" 5)
(reg "a" 2)

;;; string-builder-loop
(setv parts [])
(setv i 0)
(while (< (len parts) 5)
  (+= i 1)
  (when (= (% i 3) 0) (continue))
  (.append parts (* "x" i)))
(.join "|" parts)

;;; chunk-list
(defn chunks [xs n] (lfor i (range 0 (len xs) n) (cut xs i (+ i n))))
(chunks (list (range 10)) 3)

;;; flatten-dict-paths
(defn paths [d [prefix ""]]
  (setv out {})
  (for [[k v] (.items d)]
    (setv key (if prefix (+ prefix "." k) k))
    (if (isinstance v dict)
        (.update out (paths v key))
        (setv (get out key) v)))
  out)
(paths {"a" 1 "b" {"c" 2 "d" {"e" 3}}})

;;; anagram-groups
(setv words ["listen" "silent" "enlist" "google" "gooegl" "cat" "act"])
(setv groups {})
(for [w words] (.append (.setdefault groups (.join "" (sorted w)) []) w))
(sorted (.values groups) :key len :reverse True)

;;; two-sum
(defn two-sum [xs target]
  (setv seen {})
  (for [[i x] (enumerate xs)]
    (when (in (- target x) seen) (return [(get seen (- target x)) i]))
    (setv (get seen x) i))
  None)
[(two-sum [2 7 11 15] 9) (two-sum [3 2 4] 6) (two-sum [1 2] 10)]

;;; exception-driven-parse
(defn parse-all [xs]
  (setv ok [] bad [])
  (for [x xs]
    (try (.append ok (int x))
         (except [ValueError] (.append bad x))))
  {"ok" ok "bad" bad})
(parse-all ["1" "x" "22" "3.5" "-4"])
