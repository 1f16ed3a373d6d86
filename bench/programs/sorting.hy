;; List building with a loop and .append, then sorting with sorted and :key.

(defn lcg-list [n seed]
  "n pseudo-random integers from a linear congruential generator."
  (setv out []
        x seed)
  (for [i (range n)]
    (setv x (% (+ (* x 1103515245) 12345) 2147483648))
    (.append out (% x 100000)))
  out)

(defn insertion-sort [xs]
  (setv out (list xs)
        i 1)
  (while (< i (len out))
    (setv key (get out i)
          j (- i 1))
    (while (and (>= j 0) (> (get out j) key))
      (setv (get out (+ j 1)) (get out j))
      (-= j 1))
    (setv (get out (+ j 1)) key)
    (+= i 1))
  out)

(defn main []
  (setv xs (lcg-list 20000 42))
  (setv pairs [])
  (for [[i x] (enumerate xs)]
    (.append pairs #(x (% i 7) i)))
  (setv by-value (sorted xs))
  (setv by-mod (sorted pairs :key (fn [p] #((get p 1) (- (get p 0))))))
  (setv by-digits (sorted xs :key (fn [v] (% v 10)) :reverse True))
  (setv small (insertion-sort (cut xs 400)))
  [(cut by-value 5)
   (lfor p (cut by-mod 3) (get p 2))
   (cut by-digits 3)
   (= small (sorted (cut xs 400)))
   (sum (gfor [i v] (enumerate by-value) (* i v)))])
