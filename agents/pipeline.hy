;; Tools and workflows: a small data pipeline with branching, retries and
;; per-step timeouts; a failed run is recorded and can be resumed.
;;
;;   .venv/bin/o-lisp run agents/pipeline.hy --message "report 3 1 4 1 5 9"

(defagent pipeline
  :version "0.1.0"
  :doc "Computes a report over numbers with a multi-step workflow."

  (deftool parse-numbers [text :str]
    :doc "The integers in a space-separated text."
    (lfor word (.split text) :if (.isdigit (.lstrip word "-")) (int word)))

  (deftool mean [xs :list]
    :doc "The arithmetic mean of a non-empty list."
    (when (not xs) (raise (ValueError "mean of no numbers")))
    (/ (sum xs) (len xs)))

  (defworkflow report
    (step numbers :timeout 1 (parse-numbers (get ctx "text")))
    (step stats :when (get ctx "numbers") :retries 1
      {"count" (len (get ctx "numbers"))
       "mean" (mean (get ctx "numbers"))
       "max" (max (get ctx "numbers"))})
    (step summary
      (if (in "stats" ctx)
          (+ "n=" (str (get (get ctx "stats") "count"))
             " mean=" (str (round (get (get ctx "stats") "mean") 2))
             " max=" (str (get (get ctx "stats") "max")))
          "no numbers")))

  (when-> :name report-request (.startswith msg "report")
    (setv run (run-workflow 'report {"text" (cut msg 6 None)}))
    (if (= (get run "status") "done")
        (get (get run "ctx") "summary")
        (+ "failed: " (get run "error"))))

  (deftest reports
    (setv run (run-workflow 'report {"text" "2 4"}))
    (assert (= (get (get run "ctx") "summary") "n=2 mean=3.0 max=4"))))
