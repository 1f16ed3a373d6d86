;; Code is data: symbolic differentiation and simplification of quoted form trees,
;; walked and rebuilt with quasiquote many times.

(defn expr? [x] (isinstance x hy.models.Expression))

(defn simplify [e]
  (if (not (expr? e))
      e
      (do
        (setv op (get e 0)
              args (lfor a (cut e 1 None) (simplify a)))
        (setv a (get args 0)
              b (if (> (len args) 1) (get args 1) None))
        (cond
          (and (= op '+) (= a 0)) b
          (and (= op '+) (= b 0)) a
          (and (= op '*) (or (= a 0) (= b 0))) 0
          (and (= op '*) (= a 1)) b
          (and (= op '*) (= b 1)) a
          (and (= op '-) (= b 0)) a
          (and (in op ['+ '*]) (isinstance a int) (isinstance b int))
            (if (= op '+) (+ a b) (* a b))
          True `(~op ~@args)))))

(defn deriv [e v]
  (cond
    (isinstance e int) 0
    (not (expr? e)) (if (= e v) 1 0)
    True
      (do
        (setv op (get e 0)
              a (get e 1)
              b (get e 2))
        (cond
          (= op '+) `(+ ~(deriv a v) ~(deriv b v))
          (= op '-) `(- ~(deriv a v) ~(deriv b v))
          (= op '*) `(+ (* ~a ~(deriv b v)) (* ~(deriv a v) ~b))
          True (raise (ValueError (+ "unknown operator " (str op))))))))

(defn count-nodes [e]
  (if (expr? e)
      (+ 1 (sum (gfor a e (count-nodes a))))
      1))

(defn rename [e old new]
  (cond
    (expr? e) (hy.models.Expression (lfor a e (rename a old new)))
    (= e old) new
    True e))

(defn main []
  (setv poly '(+ (* x (* x x)) (+ (* 3 (* x y)) (- (* 2 x) 7))))
  (setv total 0
        d poly)
  (for [i (range 120)]
    (setv d1 (simplify (deriv poly 'x)))
    (setv d2 (simplify (deriv d1 'x)))
    (setv r (rename d2 'x 'z))
    (+= total (+ (count-nodes d1) (count-nodes d2) (count-nodes r)))
    (setv d d2))
  [total (hy.repr d) (hy.repr (simplify (deriv (deriv d 'x) 'x)))])
