;; Program-repair benchmark (bench/repair.py): quicksort.
(defagent quicksort
  :version "0.1.0"
  :doc "Sorts a list (a new list; duplicates kept)."

  (defn quicksort [xs]
    (if (<= (len xs) 1)
        (list xs)
        (do (setv pivot (get xs 0))
            (setv lesser (quicksort (lfor x (cut xs 1 None) :if (< x pivot) x)))
            (setv greater (quicksort (lfor x (cut xs 1 None) :if (>= x pivot) x)))
            (+ lesser [pivot] greater))))

  (deftest sorts
    (assert (= (quicksort []) []))
    (assert (= (quicksort [3 1 2]) [1 2 3]))
    (assert (= (quicksort [1 3 1 2 3]) [1 1 2 3 3]))))
