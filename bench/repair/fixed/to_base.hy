;; Program-repair benchmark (bench/repair.py): to-base.
(defagent to-base
  :version "0.1.0"
  :doc "The digits of a non-negative integer in a base from 2 to 36 (the empty string for 0)."

  (defn to-base [num base]
    (setv digits "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" result "")
    (while (> num 0)
      (setv result (+ (get digits (% num base)) result))
      (setv num (// num base)))
    result)

  (deftest bases
    (assert (= (to-base 7 10) "7"))
    (assert (= (to-base 35 36) "Z"))
    (assert (= (to-base 31 16) "1F"))
    (assert (= (to-base 8 2) "1000"))))
