;; Program-repair benchmark (bench/repair.py): wrap.
(defagent wrap
  :version "0.1.0"
  :doc "Splits text into lines of at most cols characters (cols >= 1), breaking at the last space that fits (the space is dropped) or else mid-word."

  (defn wrap [text cols]
    (setv lines [])
    (while (> (len text) cols)
      (setv end (.rfind text " " 0 (+ cols 1)))
      (if (> end 0)
          (do (.append lines (cut text 0 end))
              (setv text (cut text (+ end 1) None)))
          (do (.append lines (cut text 0 cols))
              (setv text (cut text cols None)))))
    (.append lines text)
    lines)

  (deftest wraps
    (assert (= (wrap "" 10) [""]))
    (assert (= (wrap "hello world" 20) ["hello world"]))
    (assert (= (wrap "hello world" 5) ["hello" "world"]))))
