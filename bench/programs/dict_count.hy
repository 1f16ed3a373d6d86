;; Dict counting: `.get` with a default, `(setv (get d k) ...)`, `in` tests, `.items`.

(defn main []
  (setv counts {}
        pairs {}
        x 99)
  (for [i (range 150000)]
    (setv x (% (+ (* x 1103515245) 12345) 2147483648))
    (setv k (% x 97))
    (setv (get counts k) (+ (.get counts k 0) 1))
    (setv p (% x 7))
    (if (in p pairs)
        (setv (get pairs p) (+ (get pairs p) k))
        (setv (get pairs p) k)))
  (setv top (cut (sorted (.items counts) :key (fn [kv] #((- (get kv 1)) (get kv 0)))) 5))
  [top (sorted (.items pairs)) (sum (.values counts))])
