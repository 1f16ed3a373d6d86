;; Program-repair benchmark (bench/repair.py): digit-sum.
(defagent digit-sum
  :version "0.1.0"
  :doc "Sum of the decimal digits of a non-negative integer."

  (defn digit-sum [n]
    (setv total 0)
    (while (> n 0)
      (setv total (+ total (% n 10)))
      (setv n (// n 10)))
    total)

  (deftest digits
    (assert (= (digit-sum 0) 0))
    (assert (= (digit-sum 7) 7))
    (assert (= (digit-sum 10) 1))
    (assert (= (digit-sum 123) 6))))
