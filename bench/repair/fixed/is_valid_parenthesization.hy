;; Program-repair benchmark (bench/repair.py): is-valid-parenthesization.
(defagent is-valid-parenthesization
  :version "0.1.0"
  :doc "Whether a string of ( and ) is properly nested."

  (defn is-valid-parenthesization [text]
    (setv depth 0)
    (for [c text]
      (if (= c "(")
          (+= depth 1)
          (-= depth 1))
      (when (< depth 0)
        (return False)))
    (= depth 0))

  (deftest nesting
    (assert (= (is-valid-parenthesization "") True))
    (assert (= (is-valid-parenthesization "((()()))()") True))
    (assert (= (is-valid-parenthesization ")(") False))
    (assert (= (is-valid-parenthesization "((") False))))
