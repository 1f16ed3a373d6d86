;; Program-repair benchmark (bench/repair.py): hanoi.
(defagent hanoi
  :version "0.1.0"
  :doc "The moves [from to] that take a tower of the given height from peg start to peg end."

  (defn hanoi [height [start 1] [end 3]]
    (setv steps [])
    (when (> height 0)
      (setv helper (- 6 start end))
      (.extend steps (hanoi (- height 1) start helper))
      (.append steps [start helper])
      (.extend steps (hanoi (- height 1) helper end)))
    steps)

  (deftest towers
    (assert (= (hanoi 0) []))
    (assert (= (hanoi 1) [[1 3]]))
    (assert (= (hanoi 2) [[1 2] [1 3] [2 3]]))))
