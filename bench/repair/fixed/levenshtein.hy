;; Program-repair benchmark (bench/repair.py): levenshtein.
(defagent levenshtein
  :version "0.1.0"
  :doc "Edit distance (insertions, deletions, substitutions) between two strings."

  (defn levenshtein [source target]
    (setv previous (list (range (+ (len target) 1))))
    (for [i (range (len source))]
      (setv current [(+ i 1)])
      (for [j (range (len target))]
        (setv cost (if (= (get source i) (get target j)) 0 1))
        (.append current (min (+ (get previous (+ j 1)) 1)
                              (+ (get current j) 1)
                              (+ (get previous j) cost))))
      (setv previous current))
    (get previous (len target)))

  (deftest distance
    (assert (= (levenshtein "" "") 0))
    (assert (= (levenshtein "abc" "") 3))
    (assert (= (levenshtein "kitten" "sitting") 3))
    (assert (= (levenshtein "same" "same") 0))))
