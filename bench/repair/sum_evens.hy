;; Program-repair benchmark (bench/repair.py): sum-evens.
(defagent sum-evens
  :version "0.1.0"
  :doc "Sum of the even numbers of a list."

  (defn sum-evens [xs]
    (setv total 0)
    (for [x xs]
      (when (= (% x 2) 1)
        (+= total x)))
    total)

  (deftest evens
    (assert (= (sum-evens []) 0))
    (assert (= (sum-evens [1 2 3 4]) 6))
    (assert (= (sum-evens [1 3]) 0))))
