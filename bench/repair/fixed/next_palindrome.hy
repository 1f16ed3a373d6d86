;; Program-repair benchmark (bench/repair.py): next-palindrome.
(defagent next-palindrome
  :version "0.1.0"
  :doc "The digits of the next larger palindrome after a palindrome given as a list of digits."

  (defn next-palindrome [digits]
    (setv digits (list digits))
    (setv high (// (len digits) 2) low (// (- (len digits) 1) 2))
    (while (and (< high (len digits)) (>= low 0))
      (if (= (get digits high) 9)
          (do (setv (get digits high) 0 (get digits low) 0)
              (+= high 1)
              (-= low 1))
          (do (setv (get digits high) (+ (get digits high) 1))
              (when (!= low high)
                (setv (get digits low) (+ (get digits low) 1)))
              (return digits))))
    (+ [1] (* (- (len digits) 1) [0]) [1]))

  (deftest palindromes
    (assert (= (next-palindrome [1 2 1]) [1 3 1]))
    (assert (= (next-palindrome [1 4 9 4 1]) [1 5 0 5 1]))
    (assert (= (next-palindrome [9 9 9]) [1 0 0 1]))))
