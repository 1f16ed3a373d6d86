;; Program-repair benchmark (bench/repair.py): leap-year.
(defagent leap-year
  :version "0.1.0"
  :doc "Whether a year of the Gregorian calendar is a leap year."

  (defn leap-year [year]
    (and (= (% year 4) 0)
         (and (!= (% year 100) 0) (= (% year 400) 0))))

  (deftest gregorian
    (assert (= (leap-year 2023) False))
    (assert (= (leap-year 1900) False))
    (assert (= (leap-year 2024) True))
    (assert (= (leap-year 2000) True))))
