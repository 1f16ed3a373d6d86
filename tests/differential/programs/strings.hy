;; Differential programs: strings, escapes, bracket strings, keywords, string methods.

;;; string-escapes
"tab\there\nnewline \"quoted\" back\\slash"

;;; string-unicode-escapes
["\u00e9" "\x41" "\U0001F600" "\N{GREEK SMALL LETTER LAMDA}" "\0"]

;;; string-len-escapes
(len "a\nb\tc\\")

;;; string-multiline-literal
"line one
line two"

;;; bracket-string-basic
#[[raw \n "quotes" no escapes]]

;;; bracket-string-delim
#[foo[contains ]] and ]bar] fine]foo]

;;; bracket-string-empty
[#[[]] (len #[x[]x])]

;;; bracket-string-leading-newline
#[[
first line]]

;;; string-upper-lower
[(.upper "abc") (.lower "ABC") (.title "hello world") (.capitalize "hELLO") (.swapcase "aB")]

;;; string-strip
[(.strip "  x  ") (.lstrip "xxaxx" "x") (.rstrip "a\n") (.strip "--a--" "-")]

;;; string-split-join
[(.split "a b  c") (.split "a,b,,c" ",") (.split "a b c" " " 1) (.join ", " ["x" "y" "z"]) (.join "" [])]

;;; string-rsplit-splitlines
[(.rsplit "a.b.c" "." 1) (.splitlines "one\ntwo\r\nthree")]

;;; string-find-replace
[(.find "hello" "l") (.rfind "hello" "l") (.find "hello" "z") (.replace "aaa" "a" "b") (.replace "aaa" "a" "b" 2)]

;;; string-index-missing
(.index "abc" "z")

;;; string-predicates
[(.startswith "hello" "he") (.endswith "hello" "lo") (.isdigit "123") (.isalpha "ab1") (.isspace " \t") (.isupper "AB") (.islower "ab")]

;;; string-startswith-tuple
(.startswith "prefix-x" #("a" "prefix"))

;;; string-count-partition
[(.count "banana" "a") (.partition "k=v=w" "=") (.rpartition "k=v=w" "=")]

;;; string-pad
[(.zfill "42" 5) (.center "x" 5 "*") (.ljust "ab" 4 ".") (.rjust "ab" 4)]

;;; string-encode-decode
[(.encode "héllo") (.decode b"abc") (len (.encode "é"))]

;;; bytes-literal
[b"abc" (get b"abc" 0) (list b"hi")]

;;; string-iterate
(lfor c "abc" (.upper c))

;;; string-multiply-join
(.join "-" (* ["ab"] 3))

;;; string-reverse
(.join "" (reversed "stressed"))

;;; string-comparison-sorting
(sorted ["banana" "Apple" "cherry" "apple"] :key (fn [s] (.lower s)))

;;; string-immutable-error
(setv s "abc")
(setv (get s 0) "x")

;;; string-concat-type-error
(+ "a" 1)

;;; str-conversions
[(str 42) (str 1.5) (str -0.0) (str [1 2]) (str "s") (str 1e100)]

;;; repr-conversions
[(repr 42) (repr "it's") (repr [1 "a"]) (repr None) (repr 1.0)]

;;; keyword-value
:foo

;;; keyword-values-list
[:a :b-c :kebab-case]

;;; keyword-equality
[(= :a :a) (= :a :b) (in :x [:x :y])]

;;; keyword-in-dict
(setv d {:k 1 "k" 2})
[(get d :k) (len d)]

;;; keyword-as-setv-value
(setv k :mode)
k

;;; hy-repr-builtin
[(hy.repr [1 "two" :three 4.0]) (hy.repr {"a" None}) (hy.repr #(1)) (hy.repr "q\"x")]

;;; hy-repr-nested
(hy.repr {"xs" [1 #{2} #()] "f" 1.5 "n" NaN "neg" -Inf})

;;; hy-repr-strings-escapes
(hy.repr "a\nb\tc\\\u00e9\x00")

;;; hy-repr-bool-none
(hy.repr [True False None])

;;; hy-mangle
[(hy.mangle "foo-bar") (hy.mangle "foo_bar") (hy.mangle "valid?") (hy.mangle "->") (hy.mangle "*special*")]

;;; string-in-operator
[(in "" "abc") (in "bc" "abc") (not-in "cb" "abc")]

;;; string-get-out-of-range
(get "abc" 10)

;;; string-char-arith
(.join "" (lfor c "HAL" (chr (+ (ord c) 1))))

;;; caesar-cipher
(defn shift [s n]
  (.join "" (lfor c s
    (if (.isalpha c)
        (chr (+ (% (+ (- (ord (.lower c)) 97) n) 26) 97))
        c))))
(shift "hello, world" 13)

;;; palindromes
(defn pal? [s]
  (setv t (lfor c (.lower s) :if (.isalnum c) c))
  (= t (list (reversed t))))
(lfor s ["Racecar" "A man, a plan, a canal: Panama" "hello"] (pal? s))

;;; word-lengths
(dfor w (.split "the quick brown fox") w (len w))

;;; string-format-free-concat
(setv name "world" n 3)
(+ "hello " name " x" (str n))

;;; unicode-len-slice
(setv s "héllo wörld")
[(len s) (cut s 1 4) (.upper s)]
