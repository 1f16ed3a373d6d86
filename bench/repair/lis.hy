;; Program-repair benchmark (bench/repair.py): lis.
(defagent lis
  :version "0.1.0"
  :doc "Length of the longest strictly increasing subsequence."

  (defn lis [xs]
    (setv lengths [])
    (for [i (range (len xs))]
      (setv best 1)
      (for [j (range i)]
        (when (<= (get xs j) (get xs i))
          (setv best (max best (+ (get lengths j) 1)))))
      (.append lengths best))
    (if lengths (max lengths) 0))

  (deftest increasing
    (assert (= (lis []) 0))
    (assert (= (lis [1 2 3]) 3))
    (assert (= (lis [3 2 1]) 1))
    (assert (= (lis [10 9 2 5 3 7 101 18]) 4))
    (assert (= (lis [1 1 1]) 1))))
