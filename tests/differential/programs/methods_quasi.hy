;; Differential programs: more allow-listed methods, quasiquote corners, builtins.

;;; string-methods-more
[(.casefold "ABC") (.expandtabs "a\tb" 4) (.isalnum "a1") (.isdecimal "12") (.isnumeric "12")
 (.isidentifier "a_b") (.istitle "Ab Cd") (.removeprefix "abc" "a") (.removesuffix "abc" "c")]

;;; dict-popitem
(setv d {"a" 1 "b" 2})
[(.popitem d) d]

;;; set-methods-more
(setv s #{1 2})
[(.symmetric_difference s #{2 3}) (.isdisjoint s #{5}) (.issuperset s #{1}) (.copy s)]

;;; set-mutating-methods
(setv s #{1 2 3})
(.update s [4])
(.remove s 1)
(.intersection_update s #{2 3 4 5})
(.difference_update s #{3})
s

;;; bytes-methods
[(.hex b"ab") (.startswith b"abc" b"a") (.split b"a b") (.join b"," [b"a" b"b"])]

;;; tuple-index-method
(.index #(1 2 3) 3)

;;; quasiquote-splice-string-and-list
`(~@[1 2] ~@"ab")

;;; quasiquote-splice-form-and-unquote-form
(setv x '(a b))
`(~@x ~x)

;;; quasiquote-splice-range-in-list
`[1 ~@(range 3) 5]

;;; quasiquote-set-tuple-dict
[`#{~@[1 2]} `#(~(+ 1 1)) `{"k" ~(+ 1 1)}]

;;; quasiquote-unquote-dict-value
(setv d {"a" 1})
`(f ~d)

;;; quasiquote-unquote-float-none-bool
(setv f 1.5 n None b True)
`(~f ~n ~b)

;;; quasiquote-build-fn-form
(setv args ['x 'y])
`(fn [~@args] (+ ~@args))

;;; hy-read-numbers
[(hy.read "1_000") (hy.read "-Inf") (hy.read "0x1F")]

;;; hy-read-many-count
[(len (list (hy.read-many ""))) (len (list (hy.read-many "a ; c\n b")))]

;;; hy-mangle-more
[(hy.mangle "λ") (hy.mangle "-") (hy.mangle "_-_") (hy.mangle "a-b-c")]

;;; comprehension-clauses-mixed
(lfor x "ab" y "cd" :if (!= x "b") :setv z (+ x y) z)

;;; dfor-enumerate
(dfor [i c] (enumerate "ab") c i)

;;; sfor-modulo
(sfor x (range 10) (% x 3))

;;; map-three-lists
(list (map (fn [x y z] (+ x y z)) [1 2] [3 4] [5 6]))

;;; enumerate-zip-start
(list (enumerate (zip "ab" "cd") 5))

;;; dict-from-enumerate
(dict (enumerate "ab"))

;;; pow-modular-inverse
[(pow 2 -1) (pow 7 -1 11)]

;;; sum-floats-and-start
[(sum [0.1 0.2 0.3]) (sum (range 10) 100)]

;;; int-float-conversions-more
[(int "-0b101" 0) (float "1_0.5") (int 1e20) (round 1e20) (divmod -7 -2)]

;;; float-of-huge-int-error
(float (** 2 1024))
