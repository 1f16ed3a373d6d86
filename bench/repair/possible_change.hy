;; Program-repair benchmark (bench/repair.py): possible-change.
(defagent possible-change
  :version "0.1.0"
  :doc "Number of ways to make the total from the coin values (each usable any number of times)."

  (defn possible-change [coins total]
    (cond (= total 0) 1
          (< total 0) 0
          True (+ (possible-change coins (- total (get coins 0)))
                  (possible-change (cut coins 1 None) total))))

  (deftest ways
    (assert (= (possible-change [] 0) 1))
    (assert (= (possible-change [1 5 10 25] 11) 4))
    (assert (= (possible-change [2] 3) 0))))
