;; Takeuchi function: deep, branchy recursion with three arguments.

(defn tak [x y z]
  (if (not (< y x))
      z
      (tak (tak (- x 1) y z)
           (tak (- y 1) z x)
           (tak (- z 1) x y))))

(defn main []
  [(tak 22 16 8) (tak 18 12 6)])
