;; Milestone M5: program repair. `shipping-cost` has a one-line bug (a comparison
;; off by one: an order of exactly 50 should ship free and does not), and the
;; `deftest` free-shipping-from-fifty says so. `o-lisp evolve` repairs it offline,
;; without an LLM: the repair operators propose variants of `shipping-cost`, the
;; tests judge them assert by assert, and a variant that passes every test with no
;; fitness regression is promoted (README, "Program repair (M5)").
;;
;;   .venv/bin/o-lisp test agents/checkout.hy
;;   .venv/bin/o-lisp evolve agents/checkout.hy shipping-cost --data .o/checkout \
;;        --population 50 --generations 10 --seed 1
;;   .venv/bin/o-lisp history checkout --data .o/checkout

(defagent checkout
  :version "1.0.0"
  :doc "Quotes shipping for an order: free from 50 up, else 5 plus 1 per item after the first."

  (defn shipping-cost [total items]
    "Shipping for an order worth `total` (whole units) of `items` items."
    (if (> total 50)
        0
        (+ 5 (- items 1))))

  (when-> :name quote (.startswith msg "ship ")
    (setv [total items] (lfor word (.split (cut msg 5 None)) (int word)))
    (setv cost (shipping-cost total items))
    (if (= cost 0) "free shipping" (+ "shipping: " (str cost))))

  (defn respond [text]
    "Try: ship 50 2 (the order's total, then its number of items)")

  (deftest free-shipping-from-fifty
    (assert (= (shipping-cost 120 4) 0))
    (assert (= (shipping-cost 51 1) 0))
    (assert (= (shipping-cost 50 1) 0))
    (assert (= (shipping-cost 50 3) 0)))

  (deftest small-orders-pay-per-item
    (assert (= (shipping-cost 0 1) 5))
    (assert (= (shipping-cost 20 1) 5))
    (assert (= (shipping-cost 49 3) 7))
    (assert (= (shipping-cost 10 6) 10))))
