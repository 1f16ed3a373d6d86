;; Program-repair benchmark (bench/repair.py): get-factors.
(defagent get-factors
  :version "0.1.0"
  :doc "The prime factors of a positive integer, smallest first, with repetition (1 has none)."

  (defn get-factors [n]
    (when (= n 1)
      (return []))
    (setv i 2)
    (while (<= (* i i) n)
      (when (= (% n i) 0)
        (return (+ [i] (get-factors (// n i)))))
      (+= i 1))
    [])

  (deftest factors
    (assert (= (get-factors 1) []))
    (assert (= (get-factors 100) [2 2 5 5]))
    (assert (= (get-factors 8) [2 2 2]))))
