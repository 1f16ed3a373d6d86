;; String building: concatenation, join, .upper/.lower/.split/.replace, str/int conversion.

(defn caesar [s k]
  (setv out [])
  (for [c s]
    (if (.isalpha c)
        (.append out (chr (+ 97 (% (+ (- (ord (.lower c)) 97) k) 26))))
        (.append out c)))
  (.join "" out))

(defn number-words [n]
  (setv names ["zero" "one" "two" "three" "four" "five" "six" "seven" "eight" "nine"])
  (.join "-" (lfor d (str n) (get names (int d)))))

(defn main []
  (setv pieces [])
  (for [i (range 12000)]
    (.append pieces (+ (number-words i) ":" (str (* i i)))))
  (setv text (.join " " pieces))
  (setv shouted (.upper text))
  (setv words (.split shouted))
  (setv acc "")
  (for [w (cut words 3000)]
    (setv acc (+ acc (get w 0))))
  (setv rot (caesar (cut text 20000) 13))
  (setv back (caesar rot 13))
  [(len text)
   (len words)
   acc
   (= back (cut text 20000))
   (.count text "seven")
   (len (.replace text "-" ""))
   (cut rot 40)
   (.strip (.title (.join " " (cut words 5))))])
