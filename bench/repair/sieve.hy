;; Program-repair benchmark (bench/repair.py): sieve.
(defagent sieve
  :version "0.1.0"
  :doc "The prime numbers up to and including limit."

  (defn sieve [limit]
    (setv primes [])
    (for [n (range 2 (+ limit 1))]
      (when (any (gfor p primes (> (% n p) 0)))
        (.append primes n)))
    primes)

  (deftest primes-up-to
    (assert (= (sieve 1) []))
    (assert (= (sieve 2) [2]))
    (assert (= (sieve 10) [2 3 5 7]))))
