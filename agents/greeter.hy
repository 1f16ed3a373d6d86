;; Milestone M1: an agent that rewrites one of its own when-> rules after feedback.
;; Every accepted rewrite is a commit (with a semver tag) in the agent's repository.
;; Under the guardian the rewrite becomes an evolution intent instead (see docs/agents.md).
;;
;;   .venv/bin/o-lisp run agents/greeter.hy --message "hello" \
;;        --message "feedback: Good morning, friend!" --message "hello"
;;   .venv/bin/o-lisp history greeter

(defagent greeter
  :version "0.1.0"
  :doc "Greets; learns a better greeting from feedback by rewriting its own rule."

  (when-> :name greet (in "hello" (.lower msg))
    "hello.")

  (defn rebuild-greeting [rule reply]
    "The `greet` rule with a new reply: (when-> :name greet CONDITION REPLY)."
    `(when-> :name greet ~(get rule 3) ~reply))

  (when-> :name feedback (.startswith msg "feedback: ")
    (setv reply (.strip (cut msg 10 None)))
    (setv result (rewrite! 'greet (rebuild-greeting (definition 'greet) reply)
                           :reason (+ "feedback: greet with " (hy.repr reply))
                           :bump "patch"))
    ;; Under a guardian (`propose_rewrites`), a rewrite that passed validation is pending:
    ;; the guardian tries it in a shadow and a canary before promoting it.
    (cond (get result "accepted") (+ "Thanks! From now on I greet with: " reply)
          (get result "pending") (+ "Thanks! I will try greeting with: " reply)
          True (+ "I could not learn that: " (.join "; " (get result "failures")))))

  (deftest greeting-is-polite
    ;; Gates every rewrite: a greeting must be a non-empty sentence.
    (setv reply (get (definition 'greet) 4))
    (assert (isinstance reply str))
    (assert (> (len reply) 0))
    (assert (not-in "stupid" (.lower reply)))))
