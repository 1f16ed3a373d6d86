;; Closures in loops: a fresh closure per iteration that captures the loop variable,
;; called at once and kept in a list to be called later.

(defn main []
  (setv total 0
        fns [])
  (for [i (range 150000)]
    (setv scale (fn [x] (* x i)))
    (+= total (scale 3))
    (when (= (% i 500) 0)
      (.append fns (fn [y] (+ y i)))))
  (setv later 0)
  (for [_ (range 100)]
    (for [f fns]
      (+= later (f 1))))
  [total later (len fns)])
