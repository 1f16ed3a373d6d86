;; Differential programs: the edges of the compiler's inline fast paths (operators,
;; .append / .add, (setv (get ...)), str and int) behind exact-type tests.

;;; fast-add-bool-is-not-int
[(+ True 1) (+ 1 True) (+ True True) (+ False 2.5) (* True 3) (* 3 False) (% True 2)]

;;; fast-add-int-float-mixes
(setv i 3 f 0.5)
[(+ i f) (+ f i) (+ i 1) (+ 1 i) (+ f 1) (+ 1.5 i) (* i f) (* f i) (* 2 f) (* f 2)]

;;; fast-float-nan-and-inf
(setv nan (float "nan") inf (float "inf"))
[(= (+ nan 1) (+ nan 1)) (+ inf 1) (* inf 0.0 ) (* -1 inf) (!= (* nan 2) (* nan 2))]

;;; fast-str-times-negative
[(* "ab" -1) (* -3 "ab") (* "ab" 0) (* "ab" 3) (* [1] -2) (* 2 #(1 2))]

;;; fast-list-plus-tuple-raises
(+ [1] #(2))

;;; fast-tuple-plus-list-raises
(setv t #(1) l [2])
(+ t l)

;;; fast-str-plus-int-raises
(setv s "a" n 1)
(+ s n)

;;; fast-int-plus-str-raises
(setv s "a" n 1)
(+ n s)

;;; fast-concat-same-types
(setv a "xy" b [1 2] c #(3))
[(+ a "z") (+ "z" a) (+ a a) (+ b b) (+ c c) (+ b [3]) (+ c #(4 5))]

;;; fast-concat-long-strings
(setv a (* "x" 3000) b (* "y" 3000))
(len (+ a b))

;;; fast-augmented-list-extends-in-place
(setv xs [1] ys xs)
(+= xs [2 3])
[xs ys (is xs ys)]

;;; fast-augmented-tuple-and-str
(setv t #(1) s "a")
(+= t #(2))
(+= s "b")
(*= s 2)
[t s]

;;; fast-mul-big-ints
(setv a (** 2 40) b (** 3 30))
[(* a b) (* a 3) (* 3 a) (* -2147483648 2) (* 2147483647 2147483647)]

;;; fast-mod-ints-and-floats
(setv a -7 b 3)
[(% a b) (% b a) (% a 2.5) (% 7.5 b) (% a -1)]

;;; fast-mod-by-zero
(setv a 5 b 0)
(% a b)

;;; fast-int-subclass-operands
(setv x (hy.models.Integer 5))
[(+ x 1) (* x 2) (% x 3) (= (type (+ x 1)) int) (isinstance (+ x 1) hy.models.Integer)]

;;; fast-evaluation-order
(setv log [])
(defn f [v] (.append log v) v)
[(+ (f 1) (f 2)) (* (f 3) (f 4)) (% (f 9) (f 5)) log]

;;; fast-operand-rebinding
(setv x 10)
(defn bump [] (global x) (setv x 100) 1)
(+ x (bump))

;;; fast-append-add-and-return-value
(setv xs [] s (set))
[(.append xs 1) (.add s 2) (.add s 2) xs s]

;;; fast-append-evaluation-order
(setv log [])
(defn f [v] (.append log v) v)
(setv xs [])
(.append (do (.append log "obj") xs) (f "arg"))
[xs log]

;;; fast-setitem-dict-and-list
(setv d {} xs [0 0])
(setv (get d "a") 1 (get d "a") 2 (get xs 1) 5 (get xs -2) 4)
[d xs]

;;; fast-setitem-bad-index
(setv xs [0])
(setv (get xs 3) 1)

;;; fast-setitem-unhashable-key
(setv d {})
(setv (get d [1]) 1)

;;; fast-str-int-conversions
[(str 5) (str -5) (str 2.5) (str "s") (str True) (str None) (str [1 2]) (int "42") (int 4.9) (int -4.9) (int True) (int " 7 ")]

;;; fast-int-bad-literal
(int "4x")

;;; fast-str-shadowed-by-parameter
(defn f [str int] [(str 1) (int 2)])
(f (fn [x] ["s" x]) (fn [x] ["i" x]))

;;; fast-replace-cases
(setv s "a-b-c" w "xyz" e "")
[(.replace s "-" w) (.replace s "-" "") (.replace s "" "+") (.replace s e "+") (.replace s "-" w 1)
 (.replace "abc" "b" "") (.replace s w "") (.replace (* "ab" 3000) "a" "") (.replace b"a-b" b"-" b"")]

;;; fast-replace-non-str-raises
(setv s "a-b" n 1)
(.replace s n "x")

;;; fast-comprehension-iterables
(setv n 123 xs [1 2] ys [3])
[(lfor d (str n) (int d)) (lfor x (+ xs ys) x) (lfor x (* 2 xs) x) (lfor x (range (+ n 1)) :if (> x 120) x)]

;;; fast-replace-empty-old-computed-operands
(setv s "ab")
(.replace (+ s s) "" (+ "-" s))

;;; fast-min-max-many-arguments
(setv a 3 b 5 log [])
(defn f [v] (.append log v) v)
[(max a b) (min a b) (max (f 1) (f 9) (f 4)) (min "b" "a" "c") (max [1 2] [1 3]) (max [4 2 8]) (min (range 5)) log]

;;; fast-min-max-shadowed
(defn g [max min] [(max 1 2) (min 1 2)])
(g (fn [#* xs] ["max" #* xs]) (fn [#* xs] ["min" #* xs]))

;;; fast-min-max-mixed-types-raise
(max 1 "a")

;;; discarded-if-branches-still-run
(setv log [])
(defn f [x]
  (if (> x 1) (.append log "big") (.append log "small"))
  (when (= x 2) (.append log "two"))
  (cond (= x 1) (.append log "one") (= x 3) (.append log "three") True (.append log "other"))
  (and (> x 0) (.append log "and"))
  (or (> x 5) (.append log "or"))
  x)
[(f 1) (f 2) (f 3) log]

;;; fast-str-int-shadowed-computed-argument
(defn f [str int] [(str (+ 1 2)) (int (+ 3 4)) (str (len "ab"))])
(f (fn [x] ["s" x]) (fn [x] ["i" x]))

;;; fast-str-argument-rebinds-str
(setv log [])
(defn rebind [] (global str) (setv str (fn [x] ["new" x])) 5)
[(str (rebind)) (str 6)]

;;; fast-plus-number-constant-any-operand
(setv i 3 f 2.5 b True c 1j)
[(+ i 1) (+ 1 i) (+ f 1) (+ b 1) (+ c 1) (+ 0.5 i) (* f 2.0) (* 2.0 i) (* b 0.5)]

;;; fast-plus-number-constant-on-str-raises
(setv s "a")
(+ s 1)

;;; fast-plus-number-constant-on-list-raises
(setv xs [1])
(+ 1 xs)

;;; fast-times-float-constant-on-str-raises
(setv s "a")
(* s 2.0)

;;; fast-augmented-list-plus-number-raises
(setv xs [1])
(+= xs 1)

;;; fast-plain-methods-on-usual-and-other-types
(setv d {1 2} s "Ab" xs [3 1 3] t #(3 3) f (frozenset [1]))
[(.get d 1) (.lower s) (.index xs 1) (.index s "b") (.count s "A") (.count xs 3) (.count t 3)
 (.upper (+ s "c")) (sorted (.keys d)) (.copy xs) (.copy d) (.pop xs) (.pop d 1) xs d (.union f #{2})]

;;; fast-split-cases
(setv s "a b  c" sep ",")
[(.split s) (.split s " ") (.split s None 1) (.split "x,y,,z" sep) (.split "x,y,z" sep 1) (.split "") (.split b"a b")
 (.split (+ s " d")) (len (.split (* "ab " 2000)))]

;;; fast-split-bad-separator-raises
(setv s "a b" n 1)
(.split s n)

;;; fast-split-empty-separator-raises
(.split "a b" "")

;;; fast-min-max-two-numbers
(setv a 3 b 5.5 n -2 log [])
(defn f [v] (.append log v) v)
[(max a b) (min a b) (max b a) (min n a) (max (f 1) (f 9)) (min (f 4) a) (max 2 True) (min False 0) (max "b" "a") log]

;;; fast-min-max-two-mixed-values-raise
(setv a 1 b "x")
(max a b)

;;; fast-min-max-rebound-by-an-argument
(defn h [] (global max) (setv max (fn [x y] "rebound")) 7)
[(max (h) 1) (max 1 2)]
