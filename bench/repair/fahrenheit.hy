;; Program-repair benchmark (bench/repair.py): fahrenheit.
(defagent fahrenheit
  :version "0.1.0"
  :doc "Converts degrees Celsius to degrees Fahrenheit."

  (defn fahrenheit [celsius]
    (- (* celsius 1.8) 32))

  (deftest converts
    (assert (= (fahrenheit 0) 32))
    (assert (= (fahrenheit 100) 212))
    (assert (= (fahrenheit -40) -40))))
