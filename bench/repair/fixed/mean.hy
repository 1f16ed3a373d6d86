;; Program-repair benchmark (bench/repair.py): mean.
(defagent mean
  :version "0.1.0"
  :doc "Arithmetic mean of a list of numbers (0.0 for an empty list)."

  (defn mean [xs]
    (if (not xs) 0.0 (/ (sum xs) (len xs))))

  (deftest averages
    (assert (= (mean [1 2 3]) 2.0))
    (assert (= (mean [5]) 5.0))
    (assert (= (mean []) 0.0))))
