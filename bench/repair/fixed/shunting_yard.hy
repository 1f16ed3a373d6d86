;; Program-repair benchmark (bench/repair.py): shunting-yard.
(defagent shunting-yard
  :version "0.1.0"
  :doc "Converts infix tokens (integers and + - * /, left-associative) to reverse Polish notation."

  (defn shunting-yard [tokens]
    (setv precedence {"+" 1 "-" 1 "*" 2 "/" 2})
    (setv output [] ops [])
    (for [token tokens]
      (if (isinstance token int)
          (.append output token)
          (do (while (and ops (<= (get precedence token) (get precedence (get ops -1))))
                (.append output (.pop ops)))
              (.append ops token))))
    (while ops
      (.append output (.pop ops)))
    output)

  (deftest to-rpn
    (assert (= (shunting-yard []) []))
    (assert (= (shunting-yard [10 "+" 5]) [10 5 "+"]))
    (assert (= (shunting-yard [1 "+" 2 "*" 3]) [1 2 3 "*" "+"]))
    (assert (= (shunting-yard [7 "-" 2 "-" 1]) [7 2 "-" 1 "-"]))))
