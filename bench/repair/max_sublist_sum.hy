;; Program-repair benchmark (bench/repair.py): max-sublist-sum.
(defagent max-sublist-sum
  :version "0.1.0"
  :doc "Largest sum of a contiguous sublist (the empty sublist counts, so never below 0)."

  (defn max-sublist-sum [xs]
    (setv best 0 ending 0)
    (for [x xs]
      (setv ending (+ ending x))
      (setv best (max best ending)))
    best)

  (deftest kadane
    (assert (= (max-sublist-sum []) 0))
    (assert (= (max-sublist-sum [1 2 3]) 6))
    (assert (= (max-sublist-sum [-1 -2]) 0))
    (assert (= (max-sublist-sum [4 -5 2 1 -1 3]) 5))))
