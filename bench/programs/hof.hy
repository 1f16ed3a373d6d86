;; Higher-order functions: map / filter / a hand-written reduce, composition, partial application.

(defn reduce [f xs init]
  (setv acc init)
  (for [x xs]
    (setv acc (f acc x)))
  acc)

(defn compose [#* fs]
  (fn [x]
    (reduce (fn [acc f] (f acc)) (reversed fs) x)))

(defn partial [f #* bound]
  (fn [#* more] (f #* bound #* more)))

(defn my-map [f xs]
  (reduce (fn [acc x] (.append acc (f x)) acc) xs []))

(defn my-filter [pred xs]
  (reduce (fn [acc x] (when (pred x) (.append acc x)) acc) xs []))

(defn main []
  (setv xs (list (range 20000)))
  (setv inc (fn [x] (+ x 1)))
  (setv double (fn [x] (* x 2)))
  (setv add (fn [a b] (+ a b)))
  (setv f (compose inc double inc))
  (setv a (reduce add (map f xs) 0))
  (setv b (reduce add (filter (fn [x] (= (% x 3) 0)) (my-map f xs)) 0))
  (setv c (len (my-filter (fn [x] (> (% x 7) 3)) xs)))
  (setv add10 (partial add 10))
  (setv d (reduce add (my-map add10 xs) 0))
  (setv e (reduce (fn [m x] (max m x)) (map (fn [x] (% (* x 7919) 10007)) xs) 0))
  (setv g (list (map (fn [x y] (* x y)) (range 10) (range 10 20))))
  [a b c d e g])
