;; Joining `str` of numbers: str conversions, `.join` of lists and of comprehensions.

(defn main []
  (setv parts [])
  (for [i (range 200000)]
    (.append parts (str (* i 7))))
  (setv csv (.join "," parts))
  (setv lines [])
  (for [row (range 8000)]
    (.append lines (.join " " (lfor j (range 10) (str (+ row j))))))
  (setv text (.join "\n" lines))
  (setv floats (.join ";" (lfor i (range 20000) (str (/ i 4)))))
  [(len csv) (cut csv 0 30) (len text) (cut text -20 None) (len floats)])
