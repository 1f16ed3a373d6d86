;; Differential programs: f-strings (Hy 1.3 syntax: a space before ! and : after a symbol).

;;; fstr-plain
[f"hello" f"" f"a{1}{2}b" f"x{(+ 1 1)}y"]

;;; fstr-variables
(setv name "world" n 42)
f"hello {name}, n={n}"

;;; fstr-conversions
(setv s "ab" n 5)
[f"{s !r}" f"{s !s}" f"{n !r}" f"{[1 "x"] !r}" f"{"é" !a}"]

;;; fstr-specs
(setv x 3.14159 n 42)
[f"{x :.2f}" f"{n :>6}" f"{n :<6}|" f"{n :^7}" f"{n :08b}" f"{n :x}" f"{n :#o}" f"{1234567 :,}" f"{1234567 :_}" f"{x :10.3e}" f"{0.25 :%}" f"{n :+d}" f"{"ab" :*^8}"]

;;; fstr-nested-spec
(setv value 12.34 width 10 precision 4)
[f"result: {value :{width}.{precision}}" f"{2 :{(+ 2 2)}}" f"{"x" :>{width}}"]

;;; fstr-debug
(setv x 5)
[f"{x = }" f"{(+ x 1)=}" f"{x =:>4}" f"{x = !s}"]

;;; fstr-braces
[f"a{{b}}" f"ab{{cde}}}}fg{{{{{{" f"ab{{{(+ 1 1)}}}"]

;;; fstr-escapes
[f"a\tb{1}\n" fr"a\tb{1}" f"\N{BULLET} {1}"]

;;; fstr-bracket
(setv p "xyzzy")
[#[f[a{p !r :9}]f] #[f-string[{(+ 1 2)} \n]f-string]]

;;; fstr-nested-strings
[f"a{ (.upper (+ "g" "k")) }z" f"ey {"bee"} dee"]

;;; fstr-statement-in-field
(setv out f"a{(do (setv floop 4) (* floop 2))}z")
[out floop]

;;; fstr-in-loop
(lfor i (range 4) f"{i}:{(* i i) :>3}")

;;; fstr-join
(.join ", " (gfor k ["a" "b"] f"<{k}>"))

;;; fstr-bad-spec
f"{1 :abc}"

;;; fstr-list-spec-typeerror
f"{[1 2] :>5}"

;;; fstr-precision-on-int
f"{5 :.2}"
