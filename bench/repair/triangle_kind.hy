;; Program-repair benchmark (bench/repair.py): triangle-kind.
(defagent triangle-kind
  :version "0.1.0"
  :doc "Classifies a triangle by its side lengths: invalid, equilateral, isosceles or scalene."

  (defn triangle-kind [a b c]
    (cond (or (<= (+ a b) c) (<= (+ a c) b) (<= (+ b c) a)) "invalid"
          (= a b c) "equilateral"
          (or (= a b) (= b c)) "isosceles"
          True "scalene"))

  (deftest kinds
    (assert (= (triangle-kind 3 3 3) "equilateral"))
    (assert (= (triangle-kind 3 4 5) "scalene"))
    (assert (= (triangle-kind 3 3 5) "isosceles"))
    (assert (= (triangle-kind 1 2 3) "invalid"))
    (assert (= (triangle-kind 5 3 5) "isosceles"))))
