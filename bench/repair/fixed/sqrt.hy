;; Program-repair benchmark (bench/repair.py): newton-sqrt.
(defagent sqrt
  :version "0.1.0"
  :doc "Square root of a non-negative number by Newton's method (relative precision 1e-12)."

  (defn newton-sqrt [x]
    (setv approx (/ x 2))
    (while (> (abs (- x (* approx approx))) (* 1e-12 x))
      (setv approx (/ (+ approx (/ x approx)) 2)))
    approx)

  (deftest roots
    (assert (= (newton-sqrt 4) 2))
    (assert (< (abs (- (newton-sqrt 9) 3)) 1e-9))
    (assert (< (abs (- (newton-sqrt 2) 1.4142135623730951)) 1e-9))
    (assert (< (abs (- (newton-sqrt 0.25) 0.5)) 1e-9))))
