;; Program-repair benchmark (bench/repair.py): pascal.
(defagent pascal
  :version "0.1.0"
  :doc "The first n rows (n >= 1) of Pascal's triangle."

  (defn pascal [n]
    (setv rows [[1]])
    (for [r (range 1 n)]
      (setv row [])
      (for [c (range 0 r)]
        (setv upleft (if (> c 0) (get (get rows (- r 1)) (- c 1)) 0))
        (setv upright (if (< c r) (get (get rows (- r 1)) c) 0))
        (.append row (+ upleft upright)))
      (.append rows row))
    rows)

  (deftest triangle
    (assert (= (pascal 1) [[1]]))
    (assert (= (pascal 3) [[1] [1 1] [1 2 1]]))
    (assert (= (get (pascal 5) 4) [1 4 6 4 1]))))
