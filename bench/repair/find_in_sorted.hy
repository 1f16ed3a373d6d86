;; Program-repair benchmark (bench/repair.py): find-in-sorted.
(defagent find-in-sorted
  :version "0.1.0"
  :doc "Index of x in a sorted list of distinct numbers (binary search), or -1."

  (defn find-in-sorted [xs x]
    (setv lo 0 hi (len xs))
    (while (< lo hi)
      (setv mid (// (+ lo hi) 2))
      (cond (< x (get xs mid)) (setv hi mid)
            (> x (get xs mid)) (setv lo mid)
            True (return mid)))
    -1)

  (deftest binary-search
    (assert (= (find-in-sorted [1 2 3 4 5] 3) 2))
    (assert (= (find-in-sorted [1 2 3 4 5] 1) 0))
    (assert (= (find-in-sorted [] 1) -1))
    (assert (= (find-in-sorted [1 2 3 4 5] 5) 4))
    (assert (= (find-in-sorted [1 2 3 4 5] 6) -1))))
