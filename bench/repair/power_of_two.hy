;; Program-repair benchmark (bench/repair.py): power-of-two.
(defagent power-of-two
  :version "0.1.0"
  :doc "Whether an integer is a power of two."

  (defn power-of-two [n]
    (and (> n 0) (= (| n (- n 1)) 0)))

  (deftest powers
    (assert (= (power-of-two 0) False))
    (assert (= (power-of-two 6) False))
    (assert (= (power-of-two 64) True))
    (assert (= (power-of-two 1) True))))
