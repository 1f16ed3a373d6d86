;; Differential programs: yield, (yield :from), generators with for, comprehensions and builtins.

;;; gen-basic
(defn count-to [n] (for [i (range n)] (yield i)))
(list (count-to 5))

;;; gen-in-for
(defn squares [n] (for [i (range n)] (yield (* i i))))
(setv acc [])
(for [x (squares 6)] (.append acc x))
acc

;;; gen-in-comprehensions
(defn evens [n] (for [i (range n)] (when (= 0 (% i 2)) (yield i))))
[(lfor x (evens 10) (+ x 1)) (sfor x (evens 7) x) (dfor x (evens 5) x (* x x)) (list (gfor x (evens 9) (- x)))]

;;; gen-builtins
(defn g [] (yield 3) (yield 1) (yield 2))
[(sum (g)) (max (g)) (min (g)) (sorted (g)) (list (zip (g) (g))) (list (enumerate (g))) (any (g)) (all (g)) (list (map str (g))) (list (filter (fn [x] (> x 1)) (g))) (tuple (g)) (len (list (reversed (list (g)))))]

;;; gen-next-and-stop
(defn two [] (yield "a") (yield "b"))
(setv it (two))
(setv got [(next it) (next it) (next it "done")])
got

;;; gen-return-value
(defn g [] (yield 1) "finished")
(defn wrap [] (setv r (yield :from (g))) (yield [r]))
(list (wrap))

;;; gen-stopiteration-caught
(defn g [] (yield 1))
(setv it (g))
(next it)
(try (next it) (except [StopIteration] "stopped"))

;;; gen-send
(defn acc []
  (setv total 0)
  (while True
    (setv x (yield total))
    (when (is x None) (break))
    (+= total x)))
(setv a (acc))
(next a)
[(.send a 5) (.send a 10) (.send a 1)]

;;; gen-yield-from-list
(defn g [] (yield :from [1 2 3]) (yield :from "ab") (yield :from (range 2)))
(list (g))

;;; gen-yield-from-generator-value
(defn inner [] (yield 1) (yield 2) "inner-result")
(defn outer [] (setv r (yield :from (inner))) (yield r))
(list (outer))

;;; gen-yield-from-keyword
(defn f [] (yield :from) (yield :from))
(list (f))

;;; gen-bare-yield
(defn g [] (yield) (yield))
(list (g))

;;; gen-lazy
(setv log [])
(defn g [] (.append log "start") (yield 1) (.append log "after1") (yield 2))
(setv it (g))
(setv before (list log))
(next it)
[before (list log)]

;;; gen-infinite-take
(defn naturals [] (setv n 0) (while True (yield n) (+= n 1)))
(setv out [])
(for [x (naturals)] (when (> x 4) (break)) (.append out x))
out

;;; gen-fn-anonymous
(list ((fn [] (yield "x") (yield "y"))))

;;; gen-closure
(defn make [k] (fn [xs] (for [x xs] (yield (* k x)))))
(list ((make 3) [1 2 3]))

;;; gen-try-finally
(setv log [])
(defn g [] (try (yield 1) (yield 2) (finally (.append log "cleanup"))))
(for [x (g)] (.append log x))
log

;;; gen-close
(setv log [])
(defn g [] (try (yield 1) (yield 2) (finally (.append log "closed"))))
(setv it (g))
(next it)
(.close it)
[log (list it)]

;;; gen-recursive
(defn walk [tree]
  (if (isinstance tree list)
    (for [t tree] (yield :from (walk t)))
    (yield tree)))
(list (walk [1 [2 [3 4]] [[5]]]))

;;; gen-in-let
(defn g [] (let [x 10] (yield x) (yield (+ x 1))))
(list (g))

;;; gen-exception-inside
(defn g [] (yield 1) (raise (ValueError "boom")))
(setv out [])
(try (for [x (g)] (.append out x)) (except [e ValueError] (.append out (str e))))
out

;;; gen-next-exhausted-raises
(defn g [] (yield 1))
(setv it (g))
(next it)
(next it)
