;; Program-repair benchmark (bench/repair.py): kth.
(defagent kth
  :version "0.1.0"
  :doc "The k-th smallest element of a list (k from 0), by quickselect."

  (defn kth [xs k]
    (setv pivot (get xs 0))
    (setv below (lfor x xs :if (< x pivot) x))
    (setv above (lfor x xs :if (> x pivot) x))
    (setv num-less (len below))
    (setv num-lessoreq (- (len xs) (len above)))
    (cond (< k num-less) (kth below k)
          (>= k num-lessoreq) (kth above (- k num-lessoreq))
          True pivot))

  (deftest selects
    (assert (= (kth [3 1 2] 0) 1))
    (assert (= (kth [3 1 2] 1) 2))
    (assert (= (kth [3 1 2 5 4] 4) 5))
    (assert (= (kth [3 3 5 1] 3) 5))))
