;; The reference agent: remembers what it is told and answers from its memory
;; with hybrid search (vector similarity + BM25 + recency + importance), offline.
;;
;;   .venv/bin/o-lisp run agents/assistant.hy
;;   > remember the office is on the third floor
;;   > where is the office?

(defagent assistant
  :version "0.1.0"
  :doc "Remembers what it is told and answers questions from its memory."

  (defmemory notes :block-size 512 :overlap 50 :dim 384)

  (deftool remember [text :str [importance 0.5] :float]
    :doc "Store a note in memory; returns the ids of the stored blocks."
    (memory-add text :importance importance :kind "long_term"))

  (deftool recall [query :str [k 3] :int]
    :doc "The notes most relevant to a query, best first."
    (memory-search query :k k))

  (defn clean [text]
    "Trim spaces and a trailing full stop."
    (.rstrip (.strip text) "."))

  (when-> :name remember-this (.startswith (.lower msg) "remember ")
    (remember (clean (cut msg 9 None)))
    (state-set! "notes" (+ 1 (state-get "notes" 0)))
    "Noted.")

  (when-> :name important (.startswith (.lower msg) "important: ")
    (remember (clean (cut msg 11 None)) :importance 0.9)
    (state-set! "notes" (+ 1 (state-get "notes" 0)))
    "Noted, and marked as important.")

  (when-> :name how-many (= (.lower (.strip msg)) "how many notes?")
    (+ "I have " (str (state-get "notes" 0)) " notes."))

  (when-> :name question (.endswith (.strip msg) "?")
    (setv hits (recall msg :k 1))
    (if hits
        (+ "From my notes: " (get (get hits 0) "text") ".")
        "I don't know yet. Tell me with: remember ..."))

  (defn respond [text]
    "Say \"remember ...\" to teach me something, or ask a question ending in \"?\".")

  (deftest remembers-and-recalls
    (remember "the office is on the third floor")
    (remember "lunch is served at noon")
    (assert (in "third floor" (get (get (recall "where is the office?") 0) "text"))))

  (deftest answers-questions
    (remember "the printer is next to the kitchen")
    (assert (in "kitchen" (get (get (recall "where is the printer?") 0) "text")))))
