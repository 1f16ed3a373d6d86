;; Symbolic regression (genetic programming): grow the body of `f` so that it fits
;; the cases, a sample of Koza's quartic x^4 + x^3 + x^2 + x on [-1, 1].
;;
;; The `deffitness` below is an ordinary fitness task (it returns a number, higher is
;; better) that also declares a search vocabulary: `:for f` is the defn to grow,
;; `:primitives` the functions a candidate may use (`pdiv` is this agent's own
;; protected division, `[- 1]` is negation), `:terminals` its leaves (the parameter
;; `x`, and `[-1.0 0.0 1.0]`, an ephemeral constant: one of them each time it is
;; drawn). `o-lisp evolve` grows `f` from it and promotes the grown f if it fits better
;; (docs/evolution.md, "Genetic programming"):
;;
;;   o-lisp evolve agents/regression.hy f --population 300 --generations 40 --seed 1
;;
;; or, in Python, o_lisp.evolution._gp alone:
;;
;;   from o_lisp.agent import Agent
;;   from o_lisp.evolution._gp import GPConfig, grow
;;   agent = Agent.load("agents/regression.hy", ".o/regression").scratch()
;;   print(grow(agent, "mse", GPConfig(seed=1)).best_source)
;;   ;; e.g. (defn f [x] (* (- -1.0 x) (- (* (- 0.0 x) (* x (+ 0.0 x))) x)))

(defagent regression
  :version "0.1.0"
  :doc "Fits f to sampled points of x^4 + x^3 + x^2 + x by growing its body."

  (setv cases [#(-0.996 -0.007936191744) #(-0.943 -0.101549022999) #(-0.939 -0.107783097159)
               #(-0.812 -0.253308817664) #(-0.731 -0.301715212679) #(-0.542 -0.321158800304)
               #(-0.49 -0.30990099) #(-0.134 -0.118127686064) #(-0.109 -0.098272870839)
               #(-0.101 -0.091725240599) #(-0.009 -0.008919722439) #(0.303 0.431056019481)
               #(0.443 0.764700977001) #(0.525 1.021297265625) #(0.528 1.031702470656)
               #(0.577 1.212870752041) #(0.672 1.630976557056) #(0.695 1.747040525625)
               #(0.803 2.381369273481) #(0.891 3.022476013161)])

  (defn pdiv [a b]
    "Division that gives 1.0 for a zero divisor (DEAP's protectedDiv)."
    (if (= b 0) 1.0 (/ a b)))

  ;; The seed: a constant. Growing it replaces this body.
  (defn f [x] 0.0)

  (deffitness mse :for f :primitives [+ - * pdiv [- 1] sin cos] :terminals [x [-1.0 0.0 1.0]]
    ;; minus the mean squared error over the cases
    (- (/ (sum (lfor [x y] cases :setv d (- (f x) y) (* d d))) (len cases))))

  (deftest pdiv-is-protected
    (assert (= (pdiv 1.0 0.0) 1.0))
    (assert (= (pdiv 3.0 2.0) 1.5))))
