# The two set-up commands of the README: `make run` (the main job) and `make test` (everything CI runs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check wheel-check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/o-lisp run agents/hello.hy
	@echo "--- agents/assistant.hy, messages from agents/assistant-demo.txt:"
	$(BIN)/o-lisp run agents/assistant.hy --data .o/demo-assistant --fresh --input agents/assistant-demo.txt
	@echo "--- agents/researcher.hy: a model (the scripted provider, offline) answering through the recall tool:"
	$(BIN)/o-lisp run agents/researcher.hy --data .o/demo-researcher --fresh --grant llm -m "remember the office is on the third floor" -m "where is the office?"
	@echo "--- examples/evolution_demo.py: a protected evolution cycle on a live agent, then a crash:"
	$(BIN)/python examples/evolution_demo.py

check: $(STAMP)
	$(BIN)/ruff check o_lisp tests bench examples .ci
	$(BIN)/mypy

# The wheel as a user installs it: built, installed in a fresh venv, used from another
# directory (eval, run, test, the embedding example, a serve smoke). Prints each step.
wheel-check: $(STAMP)
	$(BIN)/python .ci/wheel_check.py

test: check wheel-check
	$(BIN)/python -m o_lisp.memory.warmup
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run.py
	$(BIN)/python bench/vector_search.py
	$(BIN)/python bench/repair.py --json .o/bench-repair.json
	$(BIN)/python bench/gp.py --json .o/bench-gp.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
