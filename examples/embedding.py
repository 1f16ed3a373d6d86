"""Embedding o_lisp in a Python program: limits, capabilities, values both ways.

Run it with `.venv/bin/python examples/embedding.py`; tests/test_examples.py runs it too.
"""

from __future__ import annotations

from o_lisp import Interpreter, LimitExceeded, Limits, SandboxViolation


def main() -> list[str]:
    lines: list[str] = []
    audit: list[str] = []

    def lookup_price(item: str) -> float:
        """A host function the program may call because we grant it by name."""
        audit.append(item)
        return {"apple": 0.5, "pear": 0.75}.get(item, 0.0)

    interp = Interpreter(
        limits=Limits(steps=100_000, time=2.0),
        capabilities={"price": lookup_price},
    )
    interp.eval(
        """
        (defn total [basket]
          "Sum of price * count over a {item count} dict."
          (sum (gfor [item n] (.items basket) (* (price item) n))))
        """
    )
    # Python values go in and come out as ordinary Python values.
    lines.append(f"total = {interp.call('total', {'apple': 4, 'pear': 2})}")
    interp.define("discount", 0.1)
    discounted = interp.eval('(* (total {"apple" 10}) (- 1 discount))')
    lines.append(f"discounted = {discounted}")
    lines.append(f"prices asked: {audit}")

    # Budgets stop runaway code; the interpreter stays usable afterwards.
    try:
        interp.eval("(while True)")
    except LimitExceeded as error:
        lines.append(f"stopped: {error.limit} ({error})")

    # Nothing of the host is reachable beyond the granted capabilities.
    try:
        interp.eval('(open "/etc/passwd")')
    except SandboxViolation as error:
        lines.append(f"refused: {error}")

    # Code is data: read a definition back as a form.
    lines.append(f"definition of total starts with: {interp.forms('total')[0]}")
    return lines


if __name__ == "__main__":
    for line in main():
        print(line)
