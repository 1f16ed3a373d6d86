;; Program-repair benchmark (bench/repair.py): run-length.
(defagent run-length
  :version "0.1.0"
  :doc "Run-length encoding of a string as [character count] pairs."

  (defn run-length [text]
    (setv runs [])
    (setv current None)
    (setv count 0)
    (for [c text]
      (if (= c current)
          (+= count 1)
          (do (when current
                (.append runs [current count]))
              (setv count 1)
              (setv current c))))
    (when current
      (.append runs [current count]))
    runs)

  (deftest encodes
    (assert (= (run-length "") []))
    (assert (= (run-length "x") [["x" 1]]))
    (assert (= (run-length "aaabcc") [["a" 3] ["b" 1] ["c" 2]]))))
