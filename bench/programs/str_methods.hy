;; String methods in loops: `.split`, `.replace`, `.join`, `.upper`, `.strip`, `.startswith`
;; with results collected by `.append`.

(defn main []
  (setv line "  the quick brown fox jumps over the lazy dog  ")
  (setv out []
        hits 0)
  (for [i (range 25000)]
    (setv words (.split (.strip line)))
    (setv w (get words (% i (len words))))
    (setv fixed (.replace line "fox" w))
    (when (.startswith w "t")
      (+= hits 1))
    (.append out (.join "-" (.split (.upper fixed)))))
  (setv joined (.join "|" out))
  [(len out) hits (len joined) (get out 7) (.count joined "DOG")])
