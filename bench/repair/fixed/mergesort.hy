;; Program-repair benchmark (bench/repair.py): mergesort.
(defagent mergesort
  :version "0.1.0"
  :doc "Sorts a list by merge sort (a new list)."

  (defn mergesort [xs]
    (if (< (len xs) 2)
        (list xs)
        (do (setv middle (// (len xs) 2))
            (setv left (mergesort (cut xs 0 middle)) right (mergesort (cut xs middle None)))
            (setv merged [] i 0 j 0)
            (while (and (< i (len left)) (< j (len right)))
              (if (<= (get left i) (get right j))
                  (do (.append merged (get left i)) (+= i 1))
                  (do (.append merged (get right j)) (+= j 1))))
            (+ merged (cut left i None) (cut right j None)))))

  (deftest sorts
    (assert (= (mergesort []) []))
    (assert (= (mergesort [1]) [1]))
    (assert (= (mergesort [5 3 4]) [3 4 5]))))
