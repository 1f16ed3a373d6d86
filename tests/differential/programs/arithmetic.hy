;; Differential programs: arithmetic, comparison, bitwise, numbers.
;; Each program starts with a ";;; name" line; the value of its last form is the result.

;;; add-variadic
(+ 1 2 3 4)

;;; add-zero-args
(+)

;;; add-one-arg
(+ 7)

;;; mul-zero-args
(*)

;;; mul-variadic
(* 2 3 4)

;;; sub-unary
(- 5)

;;; sub-variadic
(- 10 1 2 3)

;;; div-unary-reciprocal
(/ 4)

;;; div-variadic
(/ 100 2 5)

;;; floordiv-variadic
(// 100 7 2)

;;; mod-basic
[(% 17 5) (% -17 5) (% 17 -5)]

;;; pow-right-assoc
(** 2 3 2)

;;; pow-negative-exponent
(** 2 -2)

;;; bigint-pow
(** 2 200)

;;; bigint-factorial
(setv acc 1)
(for [i (range 1 41)] (*= acc i))
acc

;;; bigint-negative-arith
(- (** 10 30) (** 3 70))

;;; float-arith
[(+ 0.1 0.2) (/ 1 3) (* 1.5 4) (- 0.5)]

;;; float-literals
[1e3 .5 5. 1.5e-3 -2.25]

;;; int-literals
[1_000 0xff 0o17 0b101 -0x10 1,000]

;;; nan-inf-literals
[NaN Inf -Inf]

;;; nan-not-equal
(setv x NaN)
[(= x x) (!= x x) (< x 1) (> x 1)]

;;; inf-arith
[(+ Inf 1) (- Inf) (* Inf 0) (float "inf") (float "-inf")]

;;; float-nan-from-string
(float "nan")

;;; int-conversions
[(int "42") (int "ff" 16) (int 3.9) (int -3.9) (int True) (int "  7 ")]

;;; float-conversions
[(float "1.5") (float 3) (float "1e2")]

;;; round-values
[(round 2.5) (round 3.5) (round 3.14159 2) (round 1234 -2)]

;;; abs-values
[(abs -5) (abs 2.5) (abs 0)]

;;; divmod-pow-builtin
[(divmod 17 5) (divmod -17 5) (pow 2 10) (pow 3 4 5)]

;;; true-division-ints
[(/ 7 2) (/ 6 3) (// 7 2) (// -7 2)]

;;; bool-arith
(+ True True 1)

;;; string-concat
(+ "a" "b" "c")

;;; string-repeat
(* "ab" 3)

;;; list-concat-repeat
[(+ [1] [2 3] []) (* [0] 4)]

;;; compare-chained-lt
[(< 1 2 3) (< 1 3 2) (< 1)]

;;; compare-chained-le-ge
[(<= 1 1 2) (>= 3 3 1) (>= 3 4 1) (> 3 2 1) (> 3 2 2)]

;;; compare-eq-chained
[(= 1 1 1) (= 1 1 2) (= 1 1.0 True) (= "a" "a")]

;;; compare-eq-single
(= 5)

;;; compare-ne-chained
[(!= 1 2) (!= 1 2 1) (!= 1 1 2) (!= 1 2 3)]

;;; compare-lists-strings
[(< [1 2] [1 3]) (< "abc" "abd") (= [1 [2]] [1 [2]]) (< #(1 2) #(1 2 0))]

;;; compare-type-error
(< 1 "a")

;;; compare-chained-eval-once
(setv calls [])
(defn f [x] (.append calls x) x)
[(< (f 1) (f 2) (f 3)) calls]

;;; compare-chained-shortcircuit
(setv calls [])
(defn f [x] (.append calls x) x)
[(< (f 3) (f 2) (f 5)) calls]

;;; bitwise-ops
[(& 12 10) (| 12 10) (^ 12 10) (<< 1 10) (>> 1024 3) (bnot 5)]

;;; bitwise-variadic
[(| 1 2 4 8) (& 255 15 7) (|) (<< 1 2 3) (>> 256 2 2)]

;;; bitwise-unary
[(& 6) (| 6)]

;;; bitwise-bigint
(& (- (<< 1 100) 1) (<< 0xff 92))

;;; augmented-assign-all
(setv x 10)
(setv out [])
(+= x 5) (.append out x)
(-= x 3) (.append out x)
(*= x 2) (.append out x)
(//= x 5) (.append out x)
(%= x 3) (.append out x)
(**= x 5) (.append out x)
(/= x 4) (.append out x)
out

;;; augmented-bitwise
(setv x 0b1100)
(setv out [])
(&= x 0b1010) (.append out x)
(|= x 1) (.append out x)
(^= x 0b1111) (.append out x)
(<<= x 4) (.append out x)
(>>= x 2) (.append out x)
out

;;; augmented-multi-arg
(setv x 1)
(+= x 2 3 4)
(setv y 100)
(-= y 1 2)
[x y]

;;; augmented-string-list
(setv s "ab" xs [1])
(+= s "cd")
(+= xs [2 3])
(*= s 2)
[s xs]

;;; augmented-get-target
(setv d {"a" 1} xs [1 2 3])
(+= (get d "a") 10)
(*= (get xs 1) 5)
[d xs]

;;; zero-division
(/ 1 0)

;;; zero-floordiv
(// 5 0)

;;; zero-mod
(% 5 0)

;;; float-overflow
(** 10.0 1000)

;;; add-type-error
(+ 1 "a")

;;; unary-minus-string-error
(- "a")

;;; sum-min-max
[(sum [1 2 3]) (sum [] 10) (min 3 1 2) (max [4 9 2]) (min "bca") (max 1 2.5)]

;;; min-max-key
[(min ["ccc" "a" "bb"] :key len) (max ["ccc" "a" "bb"] :key len) (max [] :default 0)]

;;; min-empty-error
(min [])

;;; int-string-error
(int "abc")

;;; chr-ord
[(chr 65) (ord "a") (chr 955) (ord "é")]

;;; chr-error
(chr -1)

;;; hex-oct-bin-funcs
[(int "0x1f" 16) (int "101" 2) (int "z" 36)]

;;; bool-values
[(bool 0) (bool "") (bool []) (bool [0]) (bool None) (bool 0.0) (bool "x")]

;;; large-int-literal
123456789012345678901234567890

;;; negative-literals
[-1 -1.5 -0 (- -3)]

;;; pow-zero-negative-error
(** 0 -1)
