;; Program-repair benchmark (bench/repair.py): find-first-in-sorted.
(defagent find-first-in-sorted
  :version "0.1.0"
  :doc "Index of the first occurrence of x in a sorted list, or -1."

  (defn find-first-in-sorted [xs x]
    (setv lo 0 hi (len xs))
    (while (<= lo hi)
      (setv mid (// (+ lo hi) 2))
      (cond (and (= x (get xs mid)) (or (= mid 0) (!= x (get xs (- mid 1))))) (return mid)
            (<= x (get xs mid)) (setv hi mid)
            True (setv lo (+ mid 1))))
    -1)

  (deftest first-occurrence
    (assert (= (find-first-in-sorted [1 2 2 2 3] 2) 1))
    (assert (= (find-first-in-sorted [1 2 3] 1) 0))
    (assert (= (find-first-in-sorted [1 1 1] 1) 0))
    (assert (= (find-first-in-sorted [1 2 3] 4) -1))
    (assert (= (find-first-in-sorted [1 3 5] 2) -1))))
