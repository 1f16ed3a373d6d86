;; Building a list with `.append` in a loop, then `sorted` (plain, :key and :reverse).

(defn main []
  (setv xs []
        x 12345)
  (for [i (range 100000)]
    (setv x (% (+ (* x 69069) 1) 4294967296))
    (.append xs (% x 1000003)))
  (setv ys (sorted xs))
  (setv evens []
        odds [])
  (for [v ys]
    (if (= (% v 2) 0)
        (.append evens v)
        (.append odds v)))
  (setv by-last-digit (sorted (cut evens 5000) :key (fn [v] (% v 10)) :reverse True))
  [(cut ys 5) (len evens) (len odds) (cut by-last-digit 5)])
