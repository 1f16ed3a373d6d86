;; Differential programs: edge cases of scoping, arguments, macros, printing and errors.

;;; lfor-do-setv-leaks-to-module
(setv x 1)
(lfor i (range 3) :do (setv x i) x)
x

;;; lfor-do-setv-leaks-to-function
(defn f []
  (setv x 1)
  (lfor i (range 3) :do (setv x i) x)
  x)
(f)

;;; lfor-setv-clause-not-visible-after
(defn f [] (lfor x (range 3) :setv y (* x 2) y) y)
(f)

;;; for-variable-visible-after-loop
(for [i (range 3)])
i

;;; for-assignment-visible-after-loop
(for [i (range 3)] (setv last-i i))
last-i

;;; in-chained
(setv a 1 b 2)
[(in 1 [1] [[1]]) (not-in 1 [2] [[1]]) (is-not None a b)]

;;; pow-negative-base-fraction-complex
(** -1 0.5)

;;; float-arith-mixed
[(% -7 2.5) (// -7 2.0) (% 5.5 2) (** 2 0.5) (- 1.5) (- True) (/ 1 0.5)]

;;; float-division-by-zero
(/ 1 0.0)

;;; dict-keyword-args-mangled
[(dict :a-b 1) (dict :x? 2)]

;;; kwargs-mangled-keys
(defn f [#** kw] kw)
(f :foo-bar 1)

;;; unpack-dict-unmangled-key-error
(defn f [a-b] a-b)
(f #** {"a-b" 1})

;;; symbol-not-equal-string
[(= 'a "a") (= '1 1) (= (hy.models.Integer 1) 1) (in 'a ['a 'b]) (isinstance '1 int)]

;;; expression-plus-list
(+ '(a) [1])

;;; list-of-quoted-form
(list '(1 2))

;;; repr-empty-set-frozenset
[(set) (frozenset) (frozenset [3])]

;;; repr-range
[(range 5) (range 1 10 2) (range 0)]

;;; repr-recursive-list
(setv xs [1])
(.append xs xs)
xs

;;; repr-recursive-dict
(setv d {})
(setv (get d "me") d)
d

;;; repr-string-special-chars
["λ\u200b\x7f" "tab\tnul\x00" "quote\"single'"]

;;; repr-bytes-special
b"\x00\n\"'\\"

;;; repr-floats
[-0.0 1e100 1.5e-10 1e16 (float (** 10 20)) 123456789.123 (/ 2 3)]

;;; repr-model-string
(hy.models.String "x")

;;; repr-unpack-and-unquote-forms
'(a #* b #** c ~x ~@y `z)

;;; repr-quote-forms
['(quote x) ''(a ~b) '`(a ~@b) '(a 'b)]

;;; repr-negative-number-forms
['-5 '(- 5) '+5]

;;; repr-keyword-in-list
(setv k :x)
[k (str k) [:a [:b]]]

;;; bracket-string-quoted-delim
'#[delim[a]]b]delim]

;;; hy-read-bracket-string
[(hy.read "#[[x]]") (hy.repr "#[[x]]")]

;;; bigint-pow-3-1000
(** 3 1000)

;;; let-does-not-leak
(setv x 1)
(let [x 2] (setv y x))
[x y]

;;; let-nested-shadow
(let [x 1] (let [x 2] (setv inner x)) [x inner])

;;; let-in-function-loop
(defn f [] (let [n 0] (for [i (range 4)] (+= n i)) n))
(f)

;;; let-closure-defn
(let [x 1] (defn get-x [] x))
(get-x)

;;; let-rebind-same-name
(let [x 1 x (+ x 1)] x)

;;; let-setv-inside
(let [x 1] (setv x 2) x)

;;; let-nonlocal-inner
(defn f [] (let [x 1] (defn g [] (nonlocal x) (+= x 1)) (g) (g) x))
(f)

;;; let-macro-value
(defmacro m [] `(+ 1 2))
(let [a (m)] a)

;;; macro-expands-to-let
(defmacro with-x [v #* body] `(let [x ~v] ~@body))
(with-x 5 (* x 2))

;;; macro-recursive-or
(defmacro my-or [#* xs]
  (if xs `(let [t ~(get xs 0)] (if t t (my-or ~@(cut xs 1 None)))) None))
[(my-or None 0 3) (my-or)]

;;; macro-optional-arg
(defmacro opt-mac [a [b 10]] `(+ ~a ~b))
[(opt-mac 1) (opt-mac 1 2)]

;;; macro-symbol-name
(defmacro sym-name [s] (str s))
(sym-name foo-bar)

;;; macro-hy-repr-of-arg
(defmacro lit [x] (hy.repr x))
(lit (a b [c]))

;;; macro-calls-macro
(defmacro m1 [x] `(m2 ~x ~x))
(defmacro m2 [a b] `[~a ~b])
(m1 7)

;;; macro-in-comprehension
(defmacro dbl [x] `(* 2 ~x))
(lfor i (range 3) (dbl i))

;;; macro-returns-plain-values
(defmacro ret-kw [] :k)
(defmacro ret-list [] [1 2 3])
(defmacro ret-str [] "s")
(defmacro ret-none [] None)
[(ret-kw) (ret-list) (ret-str) (ret-none)]

;;; macro-when-let
(defmacro when-let [binding #* body]
  `(let [~(get binding 0) ~(get binding 1)] (when ~(get binding 0) ~@body)))
[(when-let [x 5] (+ x 1)) (when-let [x 0] 1)]

;;; macro-gensym-named
(defmacro gs [] (setv g (hy.gensym "tmp")) `(do (setv ~g 41) (+ ~g 1)))
(gs)

;;; macro-returns-symbol
(setv x 10)
(defmacro get-x [] 'x)
(get-x)

;;; global-created-in-function
(defn f [] (global g1) (setv g1 "set"))
(f)
g1

;;; global-from-nested-function
(setv x "module")
(defn outer [] (setv x 1) (defn inner [] (global x) (setv x "global")) (inner) x)
[(outer) x]

;;; del-local-then-use
(defn f [] (setv x 1) (del x) x)
(f)

;;; generator-raises-when-consumed
(defn gen-err [] (list (gfor x [1 0] (// 1 x))))
(gen-err)

;;; generator-exhausted
(setv g (gfor x [1 2 3] (* x x)))
[(next g) (list g) (list g)]

;;; default-arg-captures-value
(setv x 5)
(setv f (fn [[y x]] y))
(setv x 6)
(f)

;;; kwargs-plus-unpack-merge
(defn f [a b] [a b])
(f :b 1 #** {"a" 2})

;;; duplicate-argument-error
(defn f [a] a)
(f 1 :a 2)

;;; unpack-extra-kwarg-error
(defn f [a] a)
(f #** {"a" 1 "b" 2})

;;; empty-varargs
(defn f [#* a] a)
[(f) ((fn [#** k] k))]

;;; setv-nested-star
(setv [a [#* b]] [1 [2 3]])
[a b]

;;; setv-get-targets-destructure
(setv x [0 0])
(setv [(get x 0) (get x 1)] [5 6])
x

;;; setv-destructure-int-error
(setv [a b] 1)

;;; augmented-get-list-concat
(setv d {"x" [1]})
(+= (get d "x") [2])
d

;;; try-finally-none-body
(try 1 (finally None))

;;; try-empty-finally
(try 1 (finally))

;;; try-return-finally-none
(defn f [] (try (return 1) (finally None)))
(f)

;;; continue-in-try-finally
(defn f [] (for [i (range 3)] (try (continue) (finally None))) "done")
(f)

;;; break-in-try-finally-while
(defn f [] (while True (try (break) (finally None))) "broke")
(f)

;;; exception-multi-args-str
[(try (raise (ValueError "a" "b")) (except [e ValueError] (str e)))
 (try (raise (ValueError)) (except [e ValueError] (str e)))
 (try (raise (KeyError "k")) (except [e KeyError] (repr e)))
 (try (raise TypeError) (except [e TypeError] (str e)))]

;;; except-single-class-in-list
(try (raise (ValueError "x")) (except [e [ValueError]] "single-in-list"))

;;; except-binds-after-handler
(try (int "z") (except [e ValueError] (setv caught e)) (else "no"))
(str caught)

;;; try-value-with-else-finally
(try 1 (except [ValueError] 2) (else 3) (finally 4))

;;; raise-from-none-uncaught
(raise (ValueError "m") :from None)

;;; exception-str-int-args
[(str (ValueError 1)) (str (KeyError 1))]

;;; string-method-edge-cases
[(.count "aaa" "aa") (.split "") (.split "  ") (.join "," (map str (range 5)))]

;;; ord-empty-error
(ord "")

;;; rounding-half-even
[(round -2.5) (round 0.5) (round 1.5) (int -0.5) (abs -0.0) (divmod 7.5 2)]

;;; sorted-dict-and-tuples
[(sorted {"b" 1 "a" 2}) (sorted [#(1 "b") #(1 "a") #(0 "z")])]

;;; max-key-and-default
[(max 1 2 :key (fn [x] (- x))) (min [] :default "empty")]

;;; str-of-floats
[(str 1e16) (str 1e-5) (str 100.0)]

;;; mangled-odd-names
(setv a? 1 -x 2 x! 3)
[a? -x x!]
