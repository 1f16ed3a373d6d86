;; Program-repair benchmark (bench/repair.py): lcs-length.
(defagent lcs-length
  :version "0.1.0"
  :doc "Length of the longest common substring of two strings."

  (defn lcs-length [s t]
    (setv best 0)
    (setv dp (lfor _ (range (+ (len s) 1)) (* [0] (+ (len t) 1))))
    (for [i (range 1 (+ (len s) 1))]
      (for [j (range 1 (+ (len t) 1))]
        (when (= (get s (- i 1)) (get t (- j 1)))
          (setv (get dp i j) (+ (get dp (- i 1) (- j 1)) 1))
          (setv best (max best (get dp i j))))))
    best)

  (deftest common-substring
    (assert (= (lcs-length "" "abc") 0))
    (assert (= (lcs-length "abc" "xbz") 1))
    (assert (= (lcs-length "abc" "abc") 3))))
