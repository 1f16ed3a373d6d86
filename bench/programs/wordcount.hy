;; Dict / set heavy code: word counting, inverted index, set algebra.

(setv VOCAB ["alpha" "beta" "gamma" "delta" "epsilon" "zeta" "eta" "theta" "iota"
             "kappa" "lambda" "mu" "nu" "xi" "omicron" "pi" "rho" "sigma" "tau"
             "upsilon" "phi" "chi" "psi" "omega"])

(defn make-text [n]
  (setv words []
        x 7)
  (for [i (range n)]
    (setv x (% (+ (* x 48271) 11) 2147483647))
    (.append words (get VOCAB (% x (len VOCAB)))))
  words)

(defn main []
  (setv words (make-text 60000))
  (setv counts {})
  (for [w words]
    (setv (get counts w) (+ (.get counts w 0) 1)))
  (setv index {})
  (for [[i w] (enumerate words)]
    (when (not-in w index)
      (setv (get index w) (set)))
    (.add (get index w) (% i 100)))
  (setv lengths (dfor w (set words) w (len w)))
  (setv long-words (sfor w words :if (> (len w) 4) w))
  (setv pairs (set))
  (for [i (range (- (len words) 1))]
    (.add pairs #((get words i) (get words (+ i 1)))))
  (setv common (& (get index "alpha") (get index "omega")))
  (setv either (| (get index "beta") (get index "gamma")))
  (setv top (cut (sorted (.items counts) :key (fn [kv] #((- (get kv 1)) (get kv 0)))) 3))
  [top
   (len pairs)
   (len common)
   (len either)
   (sorted long-words)
   (sum (.values lengths))
   (get counts "pi")])
