;; `map` and `filter` with `fn`s and named functions, consumed by `list`, `sum` and `for`.

(defn square [x] (* x x))
(defn odd? [x] (= (% x 2) 1))

(defn main []
  (setv xs (list (range 150000)))
  (setv a (sum (map square (filter odd? xs))))
  (setv b (list (map (fn [x] (+ x 1)) (filter (fn [x] (= (% x 3) 0)) xs))))
  (setv c 0)
  (for [v (map (fn [x y] (- x y)) xs (reversed xs))]
    (+= c (abs v)))
  [a (len b) (cut b 0 5) c])
