;; hello.hy: a small tour of o_lisp, run by `make run` (`o-lisp run agents/hello.hy [NAME]`).
;; Functions, a macro, the threading macros of the stdlib, comprehensions,
;; destructuring and error handling, all inside the sandbox.

(defn greet [name [greeting "Hello"]]
  "Build a greeting for `name`."
  (+ greeting ", " name "!"))

(defn fib [n]
  "The first `n` Fibonacci numbers."
  (setv [a b] [0 1]
        out [])
  (for [_ (range n)]
    (.append out a)
    (setv [a b] [b (+ a b)]))
  out)

(defn factorial [n]
  (if (<= n 1) 1 (* n (factorial (- n 1)))))

(defmacro unless* [test #* body]
  "Run `body` when `test` is false (a home-made `unless`)."
  `(if ~test None (do ~@body)))

;; `argv` is defined by `o-lisp run`: the file name, then the program's arguments.
(setv who (if (> (len argv) 1) (get argv 1) "world"))

(print (greet who))
(print "fib(10):" (fib 10))
(print "20! has" (-> 20 (factorial) (str) (len)) "digits")
(print "squares of the odd numbers below 10:"
       (->> (range 10) (filter (fn [x] (% x 2))) (map (fn [x] (* x x))) (list)))
(print "word lengths:"
       (dfor w ["sandboxed" "lisp" "with" "hy" "syntax"] w (len w)))
(unless* (= who "nobody")
  (print "the macro expanded to:" (hy.repr (hy.macroexpand '(unless* False (print 1))))))
(try
  (/ 1 0)
  (except [e ZeroDivisionError]
    (print "caught:" (repr e))))
