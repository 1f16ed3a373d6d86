;; Rewrite templates for self-evolution, read as data by
;; o_lisp.evolution._generators.TemplateGenerator (this file is never run).
;; Each template is tried on every subform of the definition being improved; each
;; place it matches gives one candidate, which is then tested like any other.
;;
;; (deftemplate NAME :doc "why" :match PATTERN [:where [GUARD ...]] :rewrite TEMPLATE)
;;
;; Pattern language:
;;   ?x     matches any one form and binds it to ?x; a variable used twice must
;;          match equal forms
;;   ?@xs   inside a sequence: matches zero or more consecutive forms (the
;;          shortest run that lets the rest match)
;;   ?_     matches any one form and binds nothing
;;   anything else matches an equal form of the same type: (a b) is not [a b],
;;          1 is not 1.0, and method calls are written as usual: (.lower ?m)
;; Guards (all must hold): (string? ?x) (number? ?x) (symbol? ?x) (literal? ?x)
;;   (expression? ?x) (pure? ?x) -- a literal, a name or a quoted form;
;;   (one-of ?x FORM...) -- ?x equals one of the forms;
;;   (absent FORM) -- FORM occurs nowhere in the definition (for a name the
;;          rewrite introduces, so it cannot capture one already in use).
;; The rewrite is a pattern too: ?x is replaced by its form, ?@xs spliced in.

(deftemplate min-of-sorted
  :doc "The smallest item in one pass: (get (sorted xs) 0) sorts everything (n log n, and n budget steps) to read one item."
  :match (get (sorted ?xs) 0)
  :rewrite (min ?xs))

(deftemplate max-of-sorted
  :doc "The largest item in one pass instead of sorting: (get (sorted xs) -1) -> (max xs)."
  :match (get (sorted ?xs) -1)
  :rewrite (max ?xs))

(deftemplate lfor-append-loop
  :doc "A loop that appends to a fresh list is a list comprehension, which costs one budget step per item instead of two."
  :match (?@before (setv ?out []) (for [?x ?xs] (.append ?out ?e)) ?@after)
  :where [(symbol? ?out)]
  :rewrite (?@before (setv ?out (lfor ?x ?xs ?e)) ?@after))

(deftemplate lfor-filter-loop
  :doc "A loop that appends the items passing a test to a fresh list is a filtering list comprehension."
  :match (?@before (setv ?out []) (for [?x ?xs] (when ?c (.append ?out ?e))) ?@after)
  :where [(symbol? ?out)]
  :rewrite (?@before (setv ?out (lfor ?x ?xs :if ?c ?e)) ?@after))

(deftemplate lower-once
  :doc "A condition that lower-cases the same text in two tests computes it once."
  :match (?op (?@a1 (.lower ?m) ?@a2) (?@b1 (.lower ?m) ?@b2) ?@rest)
  :where [(one-of ?op and or) (symbol? ?m) (absent lowered)]
  :rewrite (let [lowered (.lower ?m)] (?op (?@a1 lowered ?@a2) (?@b1 lowered ?@b2) ?@rest)))

(deftemplate join-concatenation
  :doc "Three or more pieces concatenated onto a string literal are joined once instead of building each intermediate string."
  :match (+ ?s ?a ?b ?@rest)
  :where [(string? ?s)]
  :rewrite (.join "" [?s ?a ?b ?@rest]))

(deftemplate in-keys
  :doc "Membership in a dict's keys is membership in the dict: no keys view is built."
  :match (in ?k (.keys ?d))
  :rewrite (in ?k ?d))

(deftemplate memory-hybrid-weights
  :doc "Rebalance a memory's hybrid search toward meaning and words: vector 0.6, keyword 0.3, recency and importance 0.05 each (the documented default)."
  :match (defmemory ?name ?@before :weights ?w ?@after)
  :rewrite (defmemory ?name ?@before :weights {"vector" 0.6 "keyword" 0.3 "recency" 0.05 "importance" 0.05} ?@after))

(deftemplate memory-add-weights
  :doc "Give a memory explicit hybrid weights that favour vector and keyword relevance, so they can then be tuned one by one."
  :match (defmemory ?name ?@options)
  :where [(absent :weights)]
  :rewrite (defmemory ?name ?@options :weights {"vector" 0.6 "keyword" 0.3 "recency" 0.05 "importance" 0.05}))
