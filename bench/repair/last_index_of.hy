;; Program-repair benchmark (bench/repair.py): last-index-of.
(defagent last-index-of
  :version "0.1.0"
  :doc "Index of the last occurrence of x in a list, or -1."

  (defn last-index-of [xs x]
    (for [i (range (- (len xs) 1) 0 -1)]
      (when (= (get xs i) x)
        (return i)))
    -1)

  (deftest finds-last
    (assert (= (last-index-of [] 1) -1))
    (assert (= (last-index-of [1 2 1] 1) 2))
    (assert (= (last-index-of [1 2 3] 2) 1))
    (assert (= (last-index-of [1 2 3] 1) 0))))
