;; Differential programs: quote, quasiquote, macros, hy.* helpers. Results are forms.

;;; quote-symbol
'foo

;;; quote-expression
'(a b c)

;;; quote-mixed-literals
'(f 1 2.5 "s" :kw [x y] {a 1} #{9} #(t u) None True)

;;; quote-nested-quote
''x

;;; quote-dotted-symbols
'(a.b .method ... foo-bar? *x*)

;;; quote-empty-forms
['() '[] '{}]

;;; quote-bracket-string
'#[[raw]]

;;; quote-negative-and-special-numbers
'(-1 -1.5 NaN Inf -Inf 1_000 0xff)

;;; quote-unpack-forms
'(f #* args #** kw)

;;; quasiquote-unquote
(setv x 5)
`(a ~x c)

;;; quasiquote-unquote-splice
(setv xs [1 2 3])
`(list ~@xs end)

;;; quasiquote-splice-empty
(setv xs [])
`(f ~@xs)

;;; quasiquote-expression-unquote
`(sum ~(+ 1 2) ~(lfor i (range 3) i))

;;; quasiquote-nested-structures
(setv k "key" v [1 2])
`{~k [~@v 3]}

;;; quasiquote-string-unquote
(setv s "hello")
`(print ~s)

;;; quasiquote-keyword-unquote
(setv kw :opt)
`(f ~kw 1)

;;; quasiquote-no-unquote
`(a (b c) [d])

;;; quote-equality
[(= '(a b) '(a b)) (= 'a 'a) (= 'a 'b) (= '(1) '(1.0))]

;;; quote-form-indexing
(setv form '(+ 1 2 3))
[(get form 0) (cut form 1 None) (len form)]

;;; quote-form-iteration
(lfor x '(1 2 3) (* x 2))

;;; quote-symbol-str
(setv k :kw)
[(str 'foo-bar) (str k) (+ (str 'a) "!")]

;;; quote-is-model
[(isinstance 'x hy.models.Symbol) (isinstance '(x) hy.models.Expression) (isinstance '[1] hy.models.List)
 (isinstance '1 hy.models.Integer) (isinstance '"s" hy.models.String) (isinstance ':k hy.models.Keyword)]

;;; construct-model
(hy.models.Expression [(hy.models.Symbol "f") (hy.models.Integer 1) (hy.models.String "s")])

;;; construct-symbol-keyword
[(hy.models.Symbol "abc") (hy.models.Keyword "kw") (hy.models.List [(hy.models.Float 1.5)])]

;;; defmacro-basic
(defmacro my-unless [test #* body]
  `(if ~test None (do ~@body)))
[(my-unless False 1 2) (my-unless True 1)]

;;; defmacro-swap
(defmacro swap! [a b]
  (setv tmp (hy.gensym))
  `(do (setv ~tmp ~a) (setv ~a ~b) (setv ~b ~tmp)))
(setv p 1 q 2)
(swap! p q)
[p q]

;;; defmacro-args-unevaluated
(defmacro count-args [#* args] (len args))
(count-args (undefined-fn 1) x y)

;;; defmacro-quote-arg
(defmacro q [x] `(quote ~x))
(q (a b c))

;;; defmacro-inc
(defmacro inc! [var [amount 1]] `(setv ~var (+ ~var ~amount)))
(setv n 10)
(inc! n)
(inc! n 5)
n

;;; defmacro-my-when
(defmacro my-when [c #* body] `(if ~c (do ~@body) None))
(setv log [])
(my-when (> 2 1) (.append log "a") (.append log "b"))
(my-when (< 2 1) (.append log "c"))
log

;;; defmacro-recursive-expansion
(defmacro my-and [#* xs]
  (cond (= (len xs) 0) True
        (= (len xs) 1) (get xs 0)
        True `(if ~(get xs 0) (my-and ~@(cut xs 1 None)) False)))
[(my-and) (my-and 1 2 3) (my-and 1 0 3)]

;;; defmacro-computes-at-expansion
(defmacro square-const [n] (* n n))
(square-const 12)

;;; defmacro-builds-defn
(defmacro defconst [name value] `(defn ~name [] ~value))
(defconst answer 42)
(answer)

;;; defmacro-loop
(defmacro repeat [n #* body] `(for [_ (range ~n)] ~@body))
(setv c 0)
(repeat 4 (+= c 2))
c

;;; defmacro-threading
(defmacro thread [x #* forms]
  (setv acc x)
  (for [f forms]
    (setv acc (if (isinstance f hy.models.Expression)
                  `(~(get f 0) ~acc ~@(cut f 1 None))
                  `(~f ~acc))))
  acc)
(thread 5 (+ 1) (* 2) str)

;;; macroexpand-function
(defmacro twice [x] `(do ~x ~x))
(hy.macroexpand '(twice (f)))

;;; macroexpand-1-function
(defmacro m [x] (if (> x 0) `(m ~(- x 1)) "bottom"))
[(hy.macroexpand-1 '(m 2)) (hy.macroexpand '(m 2)) (hy.macroexpand '(not-a-macro 1))]

;;; hy-read
(hy.read "(+ 1 2)")

;;; hy-read-many
(list (hy.read-many "a 1 \"s\" (b)"))

;;; hy-read-then-inspect
(setv f (hy.read "(foo :bar [1 2])"))
[(len f) (get f 1) (get f 2 0)]

;;; gensym-is-symbol
(isinstance (hy.gensym) hy.models.Symbol)

;;; gensym-distinct
(!= (hy.gensym) (hy.gensym))

;;; quasiquote-in-function
(defn make-call [fname #* args] `(~fname ~@args))
(make-call 'max 1 2 3)

;;; quote-keyword-call-form
'(f :a 1 :b 2)

;;; form-append-via-plus
(+ '(a b) '(c))

;;; nested-quasiquote-depth
(setv x 1)
`(a `(b ~(c ~x)))
