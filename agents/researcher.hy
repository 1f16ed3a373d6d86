;; An agent that thinks through a model: questions go to the model `brain`, which may
;; look things up in the agent's notes through the `recall` tool before it answers.
;;
;;   .venv/bin/o-lisp run agents/researcher.hy --grant llm \
;;     --message "remember the office is on the third floor" --message "where is the office?"
;;
;; Offline, `brain` is the scripted provider (agents/researcher-script.json). To use a
;; real model, change the defllm (e.g. :provider "openai" :model "gpt-4o-mini", or
;; :provider "ollama" :model "llama3.2"), or have the host give a model named `brain`
;; (see docs/llm.md); nothing else changes.

(defagent researcher
  :version "0.1.0"
  :doc "Answers questions by asking a model that searches its notes through tools."

  (defllm brain :provider "scripted" :script "researcher-script.json" :timeout 30)

  (defmemory notes :block-size 512 :overlap 50 :dim 384)

  (deftool remember [text :str]
    :doc "Store a note in memory."
    (memory-add text :kind "long_term")
    "stored")

  (deftool recall [query :str [k 3] :int]
    :doc "The texts of the notes most relevant to a query, best first."
    (lfor hit (memory-search query :k k) (get hit "text")))

  (setv instructions
    "You answer questions from the user's notes. Call recall to search them, then answer in one sentence that quotes the note. If nothing relevant is found, say you do not know.")

  (when-> :name remember-this (.startswith (.lower msg) "remember ")
    (remember (.strip (cut msg 9 None)))
    "Noted.")

  (defn respond [text]
    "Anything that is not a note is a question for the model, which may call recall."
    (try
      (get (llm-chat [{"role" "user" "content" text}] :system instructions :tools [recall]) "text")
      (except [e LLMError]
        (+ "I cannot think right now: " (str e)))))

  (deftest recall-finds-notes
    (remember "the office is on the third floor")
    (remember "lunch is served at noon")
    (assert (in "third floor" (get (recall "where is the office?") 0)))))
