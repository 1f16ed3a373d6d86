;; Differential programs: try/except/else/finally, raise, exception classes.

;;; raise-uncaught-value-error
(raise (ValueError "bad value"))

;;; raise-class-not-instance
(raise KeyError)

;;; raise-runtime-error
(defn f [] (raise (RuntimeError "boom")))
(defn g [] (f))
(g)

;;; raise-not-implemented
(raise (NotImplementedError))

;;; raise-assertion-error
(raise (AssertionError "nope"))

;;; raise-non-exception-type-error
(raise 5)

;;; try-except-named
(try
  (raise (ValueError "oops"))
  (except [e ValueError]
    (+ "caught: " (str e))))

;;; try-except-tuple
(defn type-name-of [e] (if (isinstance e KeyError) "KeyError" "ValueError"))
(lfor thunk [(fn [] (get {} "k")) (fn [] (int "x")) (fn [] 1)]
  (try
    (thunk)
    (except [e [ValueError KeyError]]
      (type-name-of e))))

;;; try-except-tuple-unnamed
(try (get [] 0) (except [[ValueError IndexError]] "caught"))

;;; try-except-bare
(try (/ 1 0) (except [] "anything"))

;;; try-except-class-only
(try (/ 1 0) (except [ZeroDivisionError] "zde"))

;;; try-except-order
(try
  (get {} "x")
  (except [e IndexError] "index")
  (except [e LookupError] "lookup")
  (except [e Exception] "exception"))

;;; try-except-no-match-propagates
(try (raise (TypeError "t")) (except [e ValueError] "no"))

;;; try-else-runs
(setv log [])
(setv r (try (.append log "body") 1 (except [e Exception] (.append log "except") 2) (else (.append log "else") 3)))
[r log]

;;; try-else-skipped-on-error
(setv log [])
(try (/ 1 0) (except [e ZeroDivisionError] (.append log "except")) (else (.append log "else")))
log

;;; try-finally-runs
(setv log [])
(try (.append log "body") (finally (.append log "finally")))
log

;;; try-finally-on-error-propagates
(setv log [])
(defn f [] (try (/ 1 0) (finally (.append log "cleanup"))))
(try (f) (except [e ZeroDivisionError] (.append log "outer")))
log

;;; try-except-else-finally-all
(setv log [])
(defn run [x]
  (try
    (when x (raise (ValueError x)))
    (except [e ValueError] (.append log ["exc" (str e)]))
    (else (.append log "else"))
    (finally (.append log "fin"))))
(run None)
(run "v")
log

;;; try-finally-return-override
(defn f [] (try (return 1) (finally (return 2))))
(f)

;;; try-return-in-except
(defn safe-div [a b]
  (try (/ a b) (except [ZeroDivisionError] (return "div0"))))
[(safe-div 6 3) (safe-div 1 0)]

;;; reraise-bare
(try
  (try (/ 1 0) (except [e ZeroDivisionError] (raise)))
  (except [e ArithmeticError] "reraised as arithmetic"))

;;; reraise-uncaught
(try (int "q") (except [e ValueError] (raise)))

;;; raise-in-except-new-error
(try (/ 1 0) (except [e ZeroDivisionError] (raise (KeyError "converted"))))

;;; raise-from
(try
  (try (/ 1 0) (except [e ZeroDivisionError] (raise (ValueError "wrapped") :from e)))
  (except [e ValueError] (str e)))

;;; exception-args-via-str
(setv errs [])
(for [x ["1" "a" "2"]]
  (try (int x) (except [e ValueError] (.append errs (str e)))))
errs

;;; exception-str-key-error
(try (get {} "missing") (except [e KeyError] (str e)))

;;; exception-repr
(try (raise (ValueError "v" 2)) (except [e ValueError] (repr e)))

;;; exception-hierarchy
[(isinstance (KeyError) LookupError) (isinstance (ZeroDivisionError) ArithmeticError)
 (isinstance (ValueError) Exception) (isinstance (IndexError) KeyError)]

;;; exception-as-value
(setv e (ValueError "x"))
(str e)

;;; catch-base-exception-class
(try (raise (NotImplementedError "ni")) (except [e RuntimeError] "runtime-parent"))

;;; catch-stop-iteration
(setv it (iter [1]))
(next it)
(try (next it) (except [StopIteration] "exhausted"))

;;; catch-name-error
(try undefined-thing (except [e NameError] "name error"))

;;; catch-overflow
(try (** 2.0 5000) (except [e OverflowError] "overflow"))

;;; catch-type-error-call
(try (len 5) (except [e TypeError] "type"))

;;; exception-in-loop-continues
(setv out [])
(for [x [1 0 2 0 4]]
  (try (.append out (// 8 x))
       (except [ZeroDivisionError] (.append out "inf") (continue))))
out

;;; break-in-try-finally
(setv log [])
(for [i (range 5)]
  (try
    (when (= i 2) (break))
    (.append log i)
    (finally (.append log "f"))))
log

;;; nested-try
(defn f [x]
  (try
    (try
      (cond (= x 1) (raise (ValueError))
            (= x 2) (raise (KeyError))
            True "ok")
      (except [ValueError] "inner-value"))
    (except [KeyError] "outer-key")))
(lfor i [0 1 2] (f i))

;;; try-value-of-body
(try 1 2 3 (except [] 4))

;;; name-error-uncaught
(+ 1 no-such-variable)

;;; exception-var-scoped
(try (/ 1 0) (except [e ZeroDivisionError] None))
e

;;; raise-custom-message-propagates-through-hof
(list (map (fn [x] (if (> x 2) (raise (ValueError "too big")) x)) [1 2 3]))

;;; assertion-via-raise
(defn check [x] (when (< x 0) (raise (AssertionError "negative"))) x)
(try (check -1) (except [e AssertionError] (+ "assert: " (str e))))

;;; index-error-message
(try (get [1 2 3] 10) (except [e IndexError] (str e)))

;;; zero-division-message
(try (/ 1 0) (except [e ZeroDivisionError] (str e)))
