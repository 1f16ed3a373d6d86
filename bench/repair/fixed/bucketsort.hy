;; Program-repair benchmark (bench/repair.py): bucketsort.
(defagent bucketsort
  :version "0.1.0"
  :doc "Sorts a list of integers from 0 to k - 1 by counting."

  (defn bucketsort [xs k]
    (setv counts (* [0] k))
    (for [x xs]
      (setv (get counts x) (+ (get counts x) 1)))
    (setv result [])
    (for [[i count] (enumerate counts)]
      (.extend result (* [i] count)))
    result)

  (deftest counting-sort
    (assert (= (bucketsort [] 5) []))
    (assert (= (bucketsort [3 1 2] 4) [1 2 3]))
    (assert (= (bucketsort [2 2 0] 3) [0 2 2]))))
