;; Program-repair benchmark (bench/repair.py): is-prime.
(defagent is-prime
  :version "0.1.0"
  :doc "Whether an integer is prime (trial division up to the square root)."

  (defn is-prime [n]
    (when (< n 2)
      (return False))
    (setv d 2)
    (while (<= (* d d) n)
      (when (= (% n d) 0)
        (return False))
      (+= d 1))
    True)

  (deftest primality
    (assert (= (is-prime 2) True))
    (assert (= (is-prime 17) True))
    (assert (= (is-prime 1) False))
    (assert (= (is-prime 15) False))
    (assert (= (is-prime 9) False))))
