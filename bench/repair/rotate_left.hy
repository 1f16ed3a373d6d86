;; Program-repair benchmark (bench/repair.py): rotate-left.
(defagent rotate-left
  :version "0.1.0"
  :doc "Rotates a list left by k places (k may exceed the length or be negative)."

  (defn rotate-left [xs k]
    (when (not xs)
      (return []))
    (+ (cut xs k None) (cut xs 0 k)))

  (deftest rotates
    (assert (= (rotate-left [] 3) []))
    (assert (= (rotate-left [1 2 3 4] 1) [2 3 4 1]))
    (assert (= (rotate-left [1 2 3] 0) [1 2 3]))
    (assert (= (rotate-left [1 2 3] 4) [2 3 1]))))
