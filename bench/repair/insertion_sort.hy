;; Program-repair benchmark (bench/repair.py): insertion-sort.
(defagent insertion-sort
  :version "0.1.0"
  :doc "Sorts a list by insertion (a new list)."

  (defn insertion-sort [xs]
    (setv xs (list xs))
    (for [i (range 1 (len xs))]
      (setv key (get xs i) j (- i 1))
      (while (and (> j 0) (> (get xs j) key))
        (setv (get xs (+ j 1)) (get xs j))
        (-= j 1))
      (setv (get xs (+ j 1)) key))
    xs)

  (deftest sorts
    (assert (= (insertion-sort []) []))
    (assert (= (insertion-sort [1 2 3]) [1 2 3]))
    (assert (= (insertion-sort [2 1]) [1 2]))))
