;; Program-repair benchmark (bench/repair.py): factorial.
(defagent factorial
  :version "0.1.0"
  :doc "n! for n >= 0."

  (defn factorial [n]
    (setv result 0)
    (for [i (range 2 (+ n 1))]
      (setv result (* result i)))
    result)

  (deftest factorials
    (assert (= (factorial 0) 1))
    (assert (= (factorial 1) 1))
    (assert (= (factorial 5) 120))))
