;; Program-repair benchmark (bench/repair.py): count-in-range.
(defagent count-in-range
  :version "0.1.0"
  :doc "How many numbers of a list lie between lo and hi inclusive."

  (defn count-in-range [xs lo hi]
    (setv count 0)
    (for [x xs]
      (when (or (>= x lo) (<= x hi))
        (+= count 1)))
    count)

  (deftest counts
    (assert (= (count-in-range [] 0 1) 0))
    (assert (= (count-in-range [3] 3 3) 1))
    (assert (= (count-in-range [1 5 10] 2 8) 1))))
