;; Program-repair benchmark (bench/repair.py): manhattan.
(defagent manhattan
  :version "0.1.0"
  :doc "Manhattan distance between two points [x y]."

  (defn manhattan [p q]
    (+ (abs (- (get p 0) (get q 0)))
       (- (get p 1) (get q 1))))

  (deftest distances
    (assert (= (manhattan [1 1] [1 1]) 0))
    (assert (= (manhattan [3 5] [0 1]) 7))
    (assert (= (manhattan [0 0] [3 4]) 7))))
