;; The agent of the evolution demo (examples/evolution_demo.py, `make run`).
;;
;; `square` is correct but slow: it does busy work whose result is thrown away.
;; A protected evolution cycle improves it offline, without an LLM: the mutation
;; operators propose variants, the `deftest`s below reject the wrong ones, the
;; `deffitness` task measures the rest against the running code, and only a
;; variant that is measurably faster is promoted.
;;
;;   .venv/bin/o-lisp serve agents/calculator.hy --data .o/calculator --port 4000
;;   curl -s localhost:4000/v1/messages -d '{"text": "square 12"}'
;;   curl -s localhost:4000/v1/evolution -d '{"definition": "square", "candidates": 8}'
;;   .venv/bin/o-lisp history calculator --data .o/calculator --all

(defagent calculator
  :version "1.0.0"
  :doc "Squares numbers and sums squares (slowly, until it evolves)."

  ;; What the calculator was told to remember (POST /v1/memory writes here); the
  ;; store is durable, so notes survive a crash, a promotion and a rollback.
  (defmemory notes :dim 32)

  ;; The evolution target. The `for` loop is leftover busy work: it counts from 0
  ;; to 20000 in steps of 1 and throws the count away. Dropping it, or shrinking
  ;; its range (a smaller end, a later start, a bigger step), keeps every answer
  ;; and is much faster; changing the arithmetic instead (another exponent,
  ;; another expression) is wrong, and the tests below catch it.
  (defn square [x]
    (for [i (range 0 20000 1)] i)
    (** x 2))

  (when-> :name square-rule (.startswith msg "square ")
    (str (square (int (cut msg 7 None)))))

  (when-> :name sum-rule (.startswith msg "sum of squares ")
    (str (sum (gfor word (.split (cut msg 15 None)) (square (int word))))))

  (defn respond [text]
    "Try: square 12, or: sum of squares 3 4")

  ;; The gates: every candidate must pass these before it is even measured.
  (deftest square-squares
    (assert (= (square 12) 144))
    (assert (= (square -3) 9))
    (assert (= (square 0) 0))
    (assert (= (square 1) 1)))

  ;; The yardstick: a candidate is timed (and scored) on this against the parent.
  (deffitness squaring
    (if (= (+ (square 3) (square 4)) (square 5)) 1.0 0.0)))
