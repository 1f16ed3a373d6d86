;; Milestone M3: an agent whose retrieval is badly tuned at the start, with a fitness
;; task that measures it, so protected evolution can find better memory weights.
;;
;; Its memory ranks notes mostly by recency and importance: among the notes that share
;; a word or a few hashed features with a question, the newest and most important win,
;; whether or not they answer it. `recall-at-5` (the share of its training questions
;; whose note is among the top 5 hits) is what evolution improves by rewriting the
;; `defmemory` (a rewrite reconfigures the live store: `memory_set_weights`, logged).
;;
;;   .venv/bin/o-lisp run agents/librarian.hy
;;   > note: The boiler was serviced in October.
;;   > When was the boiler serviced?
;;
;; agents/librarian-notes.txt is a notebook to load; agents/librarian-heldout.txt holds
;; questions the agent never sees (tests/evolution/test_librarian.py uses both).

(defagent librarian
  :version "0.1.0"
  :doc "Answers questions from its notes; its retrieval weights start badly tuned."

  (defmemory notes :dim 384
    :weights {"vector" 0.05 "keyword" 0.05 "recency" 1.0 "importance" 1.0})

  (deftool add-note [text :str [importance 0.5] :float]
    :doc "Store a note (importance in [0, 1]); returns the ids of its blocks."
    (memory-add text :importance importance :kind "long_term"))

  (deftool lookup [question :str [k 5] :int]
    :doc "The k notes most relevant to a question, best first."
    (memory-search question :k k))

  (setv training-questions
    ;; [question, a fragment of the note that answers it]
    [["Where does Clara live?" "Clara lives in Lisbon"]
     ["When is my dentist appointment?" "Dentist appointment"]
     ["When is the Atlas report deadline?" "Atlas report"]
     ["Which PostgreSQL version does the production database run?" "PostgreSQL 15"]
     ["Where is the spare house key hidden?" "spare house key"]
     ["What time is the daily standup meeting?" "standup meeting"]
     ["Where did I park the car at the airport?" "airport garage"]
     ["What goes into grandma's lasagna?" "lasagna recipe"]
     ["Who owns the quarterly budget review?" "budget review"]
     ["What is my marathon running goal?" "half marathon"]
     ["Why did the billing scripts break?" "billing scripts"]
     ["Which tray should I use when the office printer jams?" "office printer"]
     ["When is Anna's birthday?" "Anna's birthday"]
     ["When does the flight to Tokyo depart?" "Flight to Tokyo"]
     ["Who is our home electricity provider?" "GreenVolt"]
     ["When are the library books due?" "library books"]
     ["What is the neighbour's dog called?" "Biscuit"]
     ["Where is the company offsite held?" "offsite"]
     ["What is my blood type?" "blood type"]
     ["What does Lena's phone number end in?" "Lena's new phone"]
     ["What does the guitar need before the concert?" "guitar needs"]
     ["When does my gym membership renew?" "gym membership"]])

  (defn recall-at [k questions]
    "The share of `questions` ([question fragment] pairs) whose fragment is in one of the
    top `k` notes. Searches the memory directly, so measuring records no tool calls."
    (if (not questions)
        0.0
        (/ (sum (gfor [question fragment] questions
                      (if (any (gfor hit (memory-search question :k k) (in fragment (get hit "text"))))
                          1
                          0)))
           (len questions))))

  (when-> :name note (.startswith (.lower msg) "note: ")
    (add-note (.strip (cut msg 6 None)))
    "Noted.")

  (when-> :name question (.endswith (.strip msg) "?")
    (setv hits (lookup msg :k 1))
    (if hits
        (+ "From my notes: " (get (get hits 0) "text"))
        "I have no notes about that."))

  (defn respond [text]
    "Tell me something with \"note: ...\", or ask a question ending in \"?\".")

  (deftest answers-from-a-new-note
    (add-note "The boiler in the basement was serviced in October." 0.9)
    (assert (in "boiler" (get (get (lookup "When was the boiler serviced?") 0) "text"))))

  (deftest recall-is-a-share
    (setv score (recall-at 5 training-questions))
    (assert (<= 0.0 score 1.0)))

  (deffitness recall-at-5
    (recall-at 5 training-questions)))
