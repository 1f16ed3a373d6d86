;; Program-repair benchmark (bench/repair.py): knapsack.
(defagent knapsack
  :version "0.1.0"
  :doc "Best total value of items [weight value] (weights >= 1) that fit in the capacity (0/1 knapsack)."

  (defn knapsack [capacity items]
    (setv best (* [0] (+ capacity 1)))
    (for [[weight value] items]
      (for [c (range capacity 0 -1)]
        (when (<= weight c)
          (setv (get best c) (max (get best c) (+ (get best (- c weight)) value))))))
    (get best capacity))

  (deftest packs
    (assert (= (knapsack 0 [[1 1]]) 0))
    (assert (= (knapsack 5 [[2 3] [2 4]]) 7))
    (assert (= (knapsack 10 [[10 5]]) 5))
    (assert (= (knapsack 50 [[10 60] [20 100] [30 120]]) 220))))
