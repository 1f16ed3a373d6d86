;; o_lisp standard library: macros and helpers written in o_lisp itself.
;; Loaded into every Interpreter at start-up (the reader's output is cached per process).

(defmacro do-mac [#* body]
  "Evaluate `body` now, at macro-expansion time, and use its value as code (Hy's `do-mac`)."
  (setv run hy.eval)  ; called by another name: the body sees globals, not this macro's locals
  (run `(do ~@body)))

(defmacro -> [head #* rest]
  "Thread `head` through the forms as their first argument: (-> x (f a) g) is (g (f x a))."
  (setv acc head)
  (for [form rest]
    (setv acc (if (isinstance form hy.models.Expression)
                  `(~(get form 0) ~acc ~@(cut form 1 None))
                  `(~form ~acc))))
  acc)

(defmacro ->> [head #* rest]
  "Thread `head` through the forms as their last argument: (->> x (f a) g) is (g (f a x))."
  (setv acc head)
  (for [form rest]
    (setv acc (if (isinstance form hy.models.Expression)
                  `(~@form ~acc)
                  `(~form ~acc))))
  acc)

(defmacro as-> [head name #* rest]
  "Bind `name` to `head`, then to each form's value in turn; return the last."
  `(let [~name ~head
         ~@(sum (lfor form rest [name form]) [])]
     ~name))

(defmacro cond-> [head #* clauses]
  "Thread `head` through each form whose condition is true: (cond-> x c1 (f a) c2 g)."
  (setv g (hy.gensym "cond"))
  (setv steps [])
  (for [i (range 0 (len clauses) 2)]
    (setv test (get clauses i)
          form (get clauses (+ i 1)))
    (.append steps `(when ~test
                      (setv ~g ~(if (isinstance form hy.models.Expression)
                                    `(~(get form 0) ~g ~@(cut form 1 None))
                                    `(~form ~g))))))
  `(do (setv ~g ~head) ~@steps ~g))

(defmacro doto [obj #* forms]
  "Evaluate `obj`, call each form with it as first argument, return it."
  (setv g (hy.gensym "doto"))
  `(do (setv ~g ~obj)
       ~@(lfor form forms
               (if (isinstance form hy.models.Expression)
                   `(~(get form 0) ~g ~@(cut form 1 None))
                   `(~form ~g)))
       ~g))

(defmacro unless [test #* body]
  "Evaluate `body` when `test` is false."
  `(if ~test None (do ~@body)))

(defmacro when-> [test #* actions]
  "A rule: when `test` holds, run `actions` in order and return the last value (else None).
  The agent DSL checks its when-> rules on every incoming message."
  `(when ~test ~@actions))

(defmacro if-let [binding then [else None]]
  "(if-let [x expr] then else): bind x to expr; `then` if it is truthy, else `else`."
  `(let [~(get binding 0) ~(get binding 1)]
     (if ~(get binding 0) ~then ~else)))

(defn identity [x] x)

(defn inc [n] (+ n 1))

(defn dec [n] (- n 1))

(defn reduce [f xs #* initial]
  "Fold `xs` with the two-argument function `f`, optionally starting from an initial value."
  (setv it (iter xs))
  (if initial
      (setv acc (get initial 0))
      (try (setv acc (next it))
           (except [StopIteration]
             (raise (TypeError "reduce() of empty iterable with no initial value")))))
  (for [x it] (setv acc (f acc x)))
  acc)

(defn partition [xs [n 2] [step None]]
  "Split `xs` into lists of `n` items (a final shorter chunk is dropped)."
  (setv step (or step n) items (list xs))
  (lfor i (range 0 (+ (- (len items) n) 1) step) (cut items i (+ i n))))

(defn flatten [xs]
  "All non-list, non-tuple leaves of a nested list/tuple, in order; a leaf alone is [leaf]."
  (if (not (isinstance xs #(list tuple)))
      [xs]
      (do
        (setv out [] stack [(iter xs)])
        (while stack
          (try
            (setv item (next (get stack -1)))
            (except [StopIteration]
              (.pop stack)
              (continue)))
          (if (isinstance item #(list tuple))
              (.append stack (iter item))
              (.append out item)))
        out)))

(defn distinct [xs]
  "The items of `xs` without repetitions, in first-seen order."
  (setv seen (set) out [])
  (for [x xs] (when (not-in x seen) (.add seen x) (.append out x)))
  out)

(defn frequencies [xs]
  "A dict counting how often each item occurs."
  (setv counts {})
  (for [x xs] (setv (get counts x) (+ (.get counts x 0) 1)))
  counts)

(defn group-by [f xs]
  "A dict from (f x) to the list of items with that key."
  (setv groups {})
  (for [x xs] (.append (.setdefault groups (f x) []) x))
  groups)

(defn merge [#* dicts]
  "A new dict with the entries of all `dicts`, later ones winning."
  (setv out {})
  (for [d dicts] (.update out d))
  out)

(defn some [pred xs]
  "The first truthy (pred x), or None."
  (for [x xs] (setv r (pred x)) (when r (return r)))
  None)

(defn every? [pred xs] (all (gfor x xs (pred x))))

(defn take [n xs]
  (setv out [])
  (for [x xs] (when (>= (len out) n) (break)) (.append out x))
  out)

(defn drop [n xs] (cut (list xs) n None))

(defn last [xs] (get (list xs) -1))

(defn first [xs] (next (iter xs) None))

(defn rest [xs] (cut (list xs) 1 None))

(defn str-join [sep xs] (.join sep (gfor x xs (str x))))

(defn words [s] (.split s))

(defn lines [s] (.splitlines s))

(defn blank? [s] (= (.strip s) ""))

(defn starts-with? [s prefix] (.startswith s prefix))

(defn ends-with? [s suffix] (.endswith s suffix))

(defn contains? [s part] (in part s))
