;; Program-repair benchmark (bench/repair.py): bitcount.
(defagent bitcount
  :version "0.1.0"
  :doc "Counts the 1 bits of a non-negative integer."

  (defn bitcount [n]
    (setv count 0)
    (while n
      (setv n (^ n (- n 1)))
      (setv count (+ count 1)))
    count)

  (deftest counts-set-bits
    (assert (= (bitcount 0) 0))
    (assert (= (bitcount 1) 1))
    (assert (= (bitcount 2) 1))
    (assert (= (bitcount 7) 3))
    (assert (= (bitcount 255) 8))))
