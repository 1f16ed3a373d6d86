;; A `while` loop with `setv`: integer counters, a running sum and a Collatz walk.

(defn collatz-steps [n]
  (setv steps 0)
  (while (!= n 1)
    (if (= (% n 2) 0)
        (setv n (// n 2))
        (setv n (+ (* 3 n) 1)))
    (setv steps (+ steps 1)))
  steps)

(defn main []
  (setv i 0
        total 0
        odd 0)
  (while (< i 150000)
    (setv total (+ total (* i 3)))
    (when (= (% i 2) 1)
      (setv odd (+ odd 1)))
    (setv i (+ i 1)))
  (setv longest 0
        n 1)
  (while (< n 3000)
    (setv longest (max longest (collatz-steps n)))
    (setv n (+ n 1)))
  [total odd longest])
