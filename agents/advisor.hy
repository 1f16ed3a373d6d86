;; Milestone M4: an agent whose replies improve from ratings during a session.
;;
;; It answers how-to questions in one of three styles. Each rating posted to
;; /v1/feedback for one of its replies reaches `on-feedback`, which joins it to the
;; style that produced the reply and updates that style's score (durably: state-set!).
;; Styles not tried yet are tried first; after that it answers in the style its users
;; rate best. Without a model the styles are templates over its notes; with one (the
;; operator gives a model named `brain` in o-lisp.toml and --grant llm) the style is
;; the model's instruction.
;;
;;   .venv/bin/o-lisp serve agents/advisor.hy --data .o/advisor --port 4000
;;   curl -s localhost:4000/v1/messages -d '{"text": "how do I make tea?"}'
;;   curl -s localhost:4000/v1/feedback -d '{"reply_id": "r3", "stars": 5}'

(defagent advisor
  :version "0.1.0"
  :doc "Answers how-to questions in the style its users rate best (learns from ratings)."

  (setv styles ["brief" "steps" "example"])

  (setv instructions
    {"brief" "Answer in one short sentence."
     "steps" "Answer as short numbered steps."
     "example" "Answer by walking through one concrete example."})

  (setv notes
    {"tea" ["boil fresh water" "steep the leaves for three minutes" "pour through a strainer"]
     "bread" ["mix flour, water, salt and yeast" "let the dough rise for two hours" "bake at 230 degrees for 35 minutes"]})

  (defn topic-of [question]
    "The first topic of the notes the question mentions, else None."
    (for [topic (sorted notes)]
      (when (in topic (.lower question))
        (return topic)))
    None)

  (defn score [style]
    "Mean rating of a style so far, and how many ratings it has."
    (setv totals (state-get "style-scores" {}))
    (setv entry (.get totals style [0.0 0]))
    [(if (> (get entry 1) 0) (/ (get entry 0) (get entry 1)) 0.0) (get entry 1)])

  (defn pick-style []
    "An unrated style first (in order); else the best-rated one (ties: the earlier)."
    (for [style styles]
      (when (= (get (score style) 1) 0)
        (return style)))
    (setv best (get styles 0))
    (for [style styles]
      (when (> (get (score style) 0) (get (score best) 0))
        (setv best style)))
    best)

  (defn compose [style question]
    "A template answer in `style` from the notes (no model needed)."
    (setv topic (topic-of question))
    (if (is topic None)
      "I have no notes about that yet."
      (do
        (setv steps (get notes topic))
        (cond
          (= style "brief") (+ (.capitalize (get steps 0)) ", then " (get steps 1) ".")
          (= style "steps") (.join " " (lfor [i step] (enumerate steps 1) (+ (str i) ". " (.capitalize step) ".")))
          True (+ "For example, for " topic " today: " (.join "; " steps) ".")))))

  (defn answer [style question]
    "The model's answer in `style` when it has one, else the template."
    (try
      (llm question :system (get instructions style))
      (except [e LLMError]
        (compose style question))))

  (defn respond [text]
    (setv style (pick-style))
    (setv reply (answer style text))
    (state-set! "answers" (+ (cut (state-get "answers" []) -49 None) [{"reply" reply "style" style}]))
    reply)

  (defn on-feedback [fb]
    "A rating of one of our replies: credit it to the style that wrote that reply.
    Every reply comes from `respond`, which keeps one record per reply in order, so the
    rated reply's place among the replies (counted from the newest) is its record's."
    (setv replies (lfor message (messages) :if (= (.get message "role") "agent") message))
    (setv later None)
    (for [[i message] (enumerate replies)]
      (when (= (.get message "id") (get fb "reply_to"))
        (setv later (- (len replies) i 1))))
    (setv answers (state-get "answers" []))
    (when (or (is later None) (>= later (len answers)))
      (return None))
    (setv style (get (get answers (- (len answers) later 1)) "style"))
    (setv totals (state-get "style-scores" {}))
    (setv entry (.get totals style [0.0 0]))
    (setv (get totals style) [(+ (get entry 0) (get fb "rating")) (+ (get entry 1) 1)])
    (state-set! "style-scores" totals)
    style)

  (deftest a-style-without-ratings-scores-zero
    (assert (= (score "shouting") [0.0 0])))

  (deftest templates-answer-from-the-notes
    (assert (= (compose "steps" "how do I make tea?")
               "1. Boil fresh water. 2. Steep the leaves for three minutes. 3. Pour through a strainer."))
    (assert (= (compose "brief" "what about the moon?") "I have no notes about that yet."))))
