;; Program-repair benchmark (bench/repair.py): gcd.
(defagent gcd
  :version "0.1.0"
  :doc "Greatest common divisor of two non-negative integers (Euclid)."

  (defn gcd [a b]
    (if (= b 0)
        a
        (gcd b (% a b))))

  (deftest euclid
    (assert (= (gcd 10 0) 10))
    (assert (= (gcd 12 8) 4))
    (assert (= (gcd 17 5) 1))
    (assert (= (gcd 0 5) 5))))
