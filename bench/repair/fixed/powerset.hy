;; Program-repair benchmark (bench/repair.py): powerset.
(defagent powerset
  :version "0.1.0"
  :doc "All subsets of a list (the empty one first; each new element is added to every earlier subset)."

  (defn powerset [xs]
    (setv subsets [[]])
    (for [x xs]
      (setv subsets (+ subsets (lfor s subsets (+ s [x])))))
    subsets)

  (deftest subsets
    (assert (= (powerset []) [[]]))
    (assert (= (powerset [1]) [[] [1]]))
    (assert (= (powerset [1 2]) [[] [1] [2] [1 2]]))))
