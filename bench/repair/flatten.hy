;; Program-repair benchmark (bench/repair.py): flatten-list.
(defagent flatten
  :version "0.1.0"
  :doc "The leaves of a nested list, in order."

  (defn flatten-list [xs]
    (setv out [])
    (for [item xs]
      (if (isinstance item list)
          (.extend out (flatten-list xs))
          (.append out item)))
    out)

  (deftest flattens
    (assert (= (flatten-list []) []))
    (assert (= (flatten-list [1 2]) [1 2]))
    (assert (= (flatten-list [1 [2 [3]] 4]) [1 2 3 4]))))
