;; Program-repair benchmark (bench/repair.py): rpn-eval.
(defagent rpn-eval
  :version "0.1.0"
  :doc "Evaluates a reverse Polish expression of numbers and + - * /."

  (defn apply-op [op a b]
    (cond (= op "+") (+ a b)
          (= op "-") (- a b)
          (= op "*") (* a b)
          True (/ a b)))

  (defn rpn-eval [tokens]
    (setv stack [])
    (for [token tokens]
      (if (isinstance token str)
          (do (setv b (.pop stack) a (.pop stack))
              (.append stack (apply-op token a b)))
          (.append stack token)))
    (.pop stack))

  (deftest evaluates
    (assert (= (rpn-eval [3 5 "+"]) 8))
    (assert (= (rpn-eval [2 3 4 "*" "+"]) 14))
    (assert (= (rpn-eval [7 2 "-"]) 5))))
