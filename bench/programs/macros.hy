;; Macro-heavy code: several defmacros used in hot loops (expanded once at compile time).

(defmacro inc! [place [amount 1]]
  `(setv ~place (+ ~place ~amount)))

(defmacro square [x]
  (setv g (hy.gensym))
  `(do (setv ~g ~x) (* ~g ~g)))

(defmacro my-unless [test #* body]
  `(if ~test None (do ~@body)))

(defmacro repeat-times [n #* body]
  (setv i (hy.gensym))
  `(for [~i (range ~n)] ~@body))

(defmacro clamp [x lo hi]
  `(max ~lo (min ~hi ~x)))

(defmacro swap! [a b]
  (setv tmp (hy.gensym))
  `(do (setv ~tmp ~a) (setv ~a ~b) (setv ~b ~tmp)))

(defmacro with-total [name #* body]
  `(do (setv ~name 0) ~@body ~name))

(defn main []
  (setv count 0
        sq 0
        odd 0
        x 1
        y 2)
  (setv clamped
    (with-total t
      (for [i (range 60000)]
        (inc! count)
        (inc! sq (square (% i 17)))
        (my-unless (= (% i 2) 0)
          (inc! odd))
        (swap! x y)
        (inc! t (clamp (- i 3000) -100 100)))))
  (setv r 0)
  (repeat-times 30000 (inc! r 3))
  [count sq odd x y clamped r])
