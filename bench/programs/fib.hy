;; Naive doubly-recursive Fibonacci: function-call and integer-arithmetic overhead.

(defn fib [n]
  (if (< n 2)
      n
      (+ (fib (- n 1)) (fib (- n 2)))))

(defn main []
  (fib 27))
