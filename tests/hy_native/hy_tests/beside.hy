;; This file has no tests of its own, and only exists to be required
;; by `import.hy`, and sit in the same directory to test
;; single-period relative `require`.

(defmacro xyzzy []
  '1)
