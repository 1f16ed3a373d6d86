;; Differential programs: the forms and fixes of issue 15 (conformance round two).

;;; r2-defmacro-in-defn
(defn f [] (defmacro m [] 1) (+ (m) 1))
(f)

;;; r2-defmacro-later-in-do
(do (defmacro twice [x] `(+ ~x ~x)) (twice 21))

;;; r2-local-macro-shadows-global
(defmacro shadowable [] "g")
(defn inner [] (defmacro shadowable [] "l") (shadowable))
[(inner) (shadowable)]

;;; r2-nested-local-macros
(defmacro sh [] "global")
(defn inner1 []
  (defmacro sh [] "local 1")
  (defn inner2 [] (defmacro sh [] "local 2") (sh))
  [(inner2) (sh)])
[(inner1) (sh)]

;;; r2-setx
(setv y (+ (setx x 40) 2))
[x y]

;;; r2-setx-in-comprehension-condition
(setv a ["apple" None "banana"])
(setv filtered (lfor i (range (len a)) :if (is-not (setx v (get a i)) None) v))
[filtered v]

;;; r2-chainc
(setv x 2)
[(chainc 1 < x <= 2) (chainc 2 = x > 3) (chainc 1 in [1] not-in [[2]])]

;;; r2-setv-chain
(setv  v1 1  :chain [v2 v3] 2  v4 4)
(setv :chain [[y #* z] w] "abc")
[v1 v2 v3 v4 y z w]

;;; r2-setv-chain-order
(setv l (* [0] 3) calls [])
(defn f [i] (.append calls [i (list l)]) i)
(setv :chain [(get l (f 1)) (get l (f 2))] (f 9))
calls

;;; r2-and-or-unpack
[(and #* [1 2 3]) (and #* [1 0 3]) (and #* []) (or #* [0 "" 5]) (or #* []) (or 0 #* [None])]

;;; r2-comprehension-unpack
[(lfor x [[1 2] [3] []] #* x) (sfor x ["ab" "bc"] #* x) (dfor d [{"a" 1} {"b" 2} {"a" 3}] #** d) (list (gfor x [[1] [2 3]] #* x))]

;;; r2-comprehension-unpack-statements
(setv l [])
[(lfor x [[1 2] [3 4]] :do (.append l (len x)) #* x) l]

;;; r2-zero-clause-loops
(setv n 0)
(for [] (+= n 1))
[n (lfor 1) (sfor 1) (dfor 1 2) (list (gfor 1))]

;;; r2-for-else-several-clauses
(setv flag 0 seen [])
(for [x (range 2) y (range 2)] (.append seen [x y]) (else (+= flag 2)))
[flag seen]

;;; r2-except-in-let
(let [foo 42]
  (setv caught None)
  (try (/ 1 0) (except [foo ZeroDivisionError] (setv caught (type foo))))
  [foo (= caught ZeroDivisionError)])

;;; r2-splice-false-values
(hy.repr `(a ~@0 ~@False ~@None ~@"" ~@[] b))

;;; r2-gensym-mangles
(setv g (hy.gensym "a-b?"))
[(.startswith g "_hy_gensym_a_bXquestion_markX_") (isinstance g hy.models.Symbol)]

;;; r2-mangled-operator-names
(setv x 1)
[(not_in x [2]) (is_not x None) (not-in x [1])]

;;; r2-ioerror-ellipsis
[(try (raise (IOError "disk")) (except [e IOError] (str e))) (is Ellipsis ...) (= IOError OSError)]

;;; r2-pragma
(pragma :warn-on-core-shadow False :hy "1.0")
5
