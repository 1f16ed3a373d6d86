;; The agent DSL: loaded (after core.hy) into the interpreter of every agent.
;;
;; Each declaration is a macro. Its arguments are checked by the agent runtime's
;; expander (`agent-expand`, trusted Python), which reports mistakes with the
;; file, line and column of the offending form and builds the expansion: a call
;; that registers a sandboxed function (the tool's body, the rule, the steps of a
;; workflow, the test) with the agent.

(defmacro deftool [#* args]
  "(deftool name [param :type [opt default] :type ...] :doc \"...\" :timeout s :unsafe False :cache False body...)"
  (agent-expand "deftool" args))

(defmacro when-> [#* args]
  "(when-> :name rule-name condition action...): a rule checked on every incoming message
  (`:name rule-name` is optional; without it the rule is named rule-N).
  Inside, `msg` is the message text and `event` the whole event dict."
  (agent-expand "when->" args))

(defmacro defworkflow [#* args]
  "(defworkflow name (step step-name [:retries n] [:timeout s] [:when condition] body...) ...)
  Steps run in order with `ctx` (a dict) bound; each step's value is stored in ctx under its name."
  (agent-expand "defworkflow" args))

(defmacro defmemory [#* args]
  "(defmemory name :block-size 512 :overlap 50 :dim 384 ...): a memory the agent can search."
  (agent-expand "defmemory" args))

(defmacro deftest [#* args]
  "(deftest name body...): a test that travels with the agent and gates every self-modification.
  It fails when its body raises (e.g. a failed assert) or returns False."
  (agent-expand "deftest" args))

(defmacro deffitness [#* args]
  "(deffitness name body...): a fitness task; its body returns a number, higher is better."
  (agent-expand "deffitness" args))

(defmacro defllm [#* args]
  "(defllm name :provider \"openai\" :model \"...\" [:base-url URL] [:temperature t] [:max-tokens n]
  [:timeout s] [:retries n] [:script FILE]): a named model the agent calls with llm / llm-chat."
  (agent-expand "defllm" args))
