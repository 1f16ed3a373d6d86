;; Closure-heavy code: counters and adders created and called in loops, nonlocal state.

(defn make-counter [start step]
  (setv n start)
  (defn tick []
    (nonlocal n)
    (+= n step)
    n)
  tick)

(defn make-adder [k]
  (fn [x] (+ x k)))

(defn make-accumulator []
  (setv total 0
        calls 0)
  (defn add [x]
    (nonlocal total calls)
    (+= total x)
    (+= calls 1)
    total)
  (defn stats [] [total calls])
  [add stats])

(defn main []
  (setv counters (lfor i (range 50) (make-counter i (+ 1 (% i 3)))))
  (setv last 0)
  (for [_ (range 3000)]
    (for [c counters]
      (setv last (c))))
  (setv s 0)
  (for [i (range 15000)]
    (setv adder (make-adder i))
    (+= s (adder (adder 1))))
  (setv [acc stats] (make-accumulator))
  (for [i (range 15000)]
    (acc i))
  [last s (stats) (lfor c (cut counters 5) (c))])
