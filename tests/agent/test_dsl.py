"""The agent DSL: every declaration, and bad input answered with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from o_lisp import CompileError, read
from o_lisp.agent._agent import Agent, AgentError
from o_lisp.agent._dsl import read_agent

GREETER = """\
(defagent greeter
  :version "0.1.0"
  :doc "Greets people."

  (defn greeting [name] (+ "Hello, " name "!"))

  ;; tools: typed parameters, defaults, options
  (deftool shout [text :str [times 1] :int] :doc "Upper-case text, repeated." :timeout 1
    (* (.upper text) times))

  (deftool spin [] :timeout 0.05 (while True))

  (deftool wipe [] :unsafe True "wiped")

  (deftool slow-square [n :int] :cache True
    (state-set! "computed" (+ 1 (state-get "computed" 0)))
    (* n n))

  (when-> :name hello (.startswith msg "hi ")
    (state-set! "count" (+ 1 (state-get "count" 0)))
    (greeting (cut msg 3 None)))

  (when-> (= msg "count") (state-get "count" 0))

  (when-> (= msg "spin") (try (spin) (except [e ToolError] (str e))))

  (defn respond [text] (+ "I do not understand: " text))

  (defworkflow signup
    (step ask :retries 1 (get ctx "name"))
    (step check :when (get ctx "ask")
      (if (= (get ctx "ask") "bob") (raise (ValueError "no bobs")) "ok"))
    (step done "welcome"))

  (deftest greets (assert (= (greeting "x") "Hello, x!")))
  (deftest shouts (= (shout "a" :times 3) "AAA")))
"""


@pytest.fixture
def greeter(tmp_path: Path) -> Agent:
    path = tmp_path / "greeter.hy"
    path.write_text(GREETER)
    spec = read_agent(GREETER, str(path))
    clock = iter(range(1_000_000))
    return Agent(spec, tmp_path / "data", clock=lambda: float(next(clock)))


def test_definitions_are_split_in_order(greeter: Agent) -> None:
    kinds = [(d.name, d.kind.value) for d in greeter.spec.definitions]
    assert kinds[:6] == [
        ("greeting", "defn"),
        ("shout", "deftool"),
        ("spin", "deftool"),
        ("wipe", "deftool"),
        ("slow-square", "deftool"),
        ("hello", "when->"),
    ]
    assert greeter.spec.definitions[5].source.startswith("(when-> :name hello")
    assert greeter.rule_order() == ["hello", "rule-2", "rule-3"]


def test_rules_answer_in_order_and_fall_back_to_respond(greeter: Agent) -> None:
    assert greeter.handle("hi bob") == "Hello, bob!"
    assert greeter.handle("hi ann") == "Hello, ann!"
    assert greeter.handle("count") == "2"
    assert greeter.handle("what?") == "I do not understand: what?"
    texts = [(m["role"], m["text"]) for m in greeter.state["messages"]]
    assert texts[:2] == [("user", "hi bob"), ("agent", "Hello, bob!")]
    assert greeter.state["metrics"]["rule:hello"]["calls"] == 4


def test_tool_schema_and_validation(greeter: Agent) -> None:
    assert greeter.tools["shout"].schema == {
        "name": "shout",
        "description": "Upper-case text, repeated.",
        "parameters": {
            "type": "object",
            "properties": {"text": {"type": "string"}, "times": {"type": "integer", "default": 1}},
            "required": ["text"],
            "additionalProperties": False,
        },
    }
    assert greeter.call_tool("shout", "ab", times=2) == "ABAB"
    with pytest.raises(Exception, match="tool shout: argument text must be str, not int"):
        greeter.call_tool("shout", 5)
    with pytest.raises(Exception, match="tool shout: missing argument text"):
        greeter.call_tool("shout")
    with pytest.raises(Exception, match="tool shout has no parameter loud"):
        greeter.call_tool("shout", "a", loud=True)
    with pytest.raises(AgentError, match="has no tool 'nope'"):
        greeter.call_tool("nope")
    calls = greeter.state["tool_calls"]
    assert calls[0]["tool"] == "shout" and calls[0]["ok"] is True and calls[0]["result"] == "ABAB"
    assert calls[1]["ok"] is False and "must be str" in calls[1]["error"]


def test_tool_timeout_is_enforced_by_the_budget(greeter: Agent) -> None:
    assert greeter.handle("spin") == "tool spin timed out after 0.05 s"
    assert greeter.state["tool_calls"][-1]["ok"] is False


def test_unsafe_tools_need_a_grant(greeter: Agent, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="tool wipe is unsafe and agent greeter was not granted it"):
        greeter.call_tool("wipe")
    granted = Agent(read_agent(GREETER, "g.hy"), tmp_path / "d2", grants=["unsafe:wipe"])
    assert granted.call_tool("wipe") == "wiped"


def test_tool_result_cache(greeter: Agent) -> None:
    assert greeter.call_tool("slow-square", 4) == 16
    assert greeter.call_tool("slow-square", 4) == 16
    assert greeter.call_tool("slow-square", 5) == 25
    assert greeter.state["context"]["computed"] == 2


def test_workflow_runs_branches_and_resumes(greeter: Agent) -> None:
    done = greeter.run_workflow("signup", {"name": "ann"})
    assert done["status"] == "done"
    assert done["ctx"] == {"name": "ann", "ask": "ann", "check": "ok", "done": "welcome"}
    skipped = greeter.run_workflow("signup", {"name": ""})
    assert skipped["status"] == "done" and "check" not in skipped["ctx"]
    failed = greeter.run_workflow("signup", {"name": "bob"})
    assert failed["status"] == "failed"
    assert failed["error"].startswith("step check: ")
    assert "ValueError: no bobs" in failed["error"]
    assert greeter.state["workflows"][failed["run_id"]]["next"] == 1
    # The failed run is resumable from the failed step.
    again = greeter.resume_workflow(failed["run_id"])
    assert again["status"] == "failed" and again["next"] == 1


def test_tests_travel_with_the_agent(greeter: Agent) -> None:
    report = greeter.run_tests()
    assert report.ok and sorted(report.passed) == ["greets", "shouts"]


def test_rewrite_hot_swaps_only_when_tests_pass(greeter: Agent) -> None:
    rejected = greeter.rewrite("greeting", read('(defn greeting [name] (+ "Yo " name))'), reason="shorter")
    assert not rejected.accepted
    assert rejected.failures[0].startswith("test greets failed")
    assert greeter.handle("hi zed") == "Hello, zed!"
    accepted = greeter.rewrite(
        "hello", read('(when-> :name hello (.startswith msg "hey ") "hey yourself")'), reason="new trigger"
    )
    assert accepted.accepted
    assert greeter.handle("hey x") == "hey yourself"
    assert greeter.rule_order()[0] == "hello"


def test_rewrite_refuses_mismatched_definitions(greeter: Agent) -> None:
    result = greeter.rewrite("greeting", read("(defn other [] 1)"), reason="rename")
    assert not result.accepted
    assert result.failures == ["the new form defines 'other', not 'greeting'"]
    result = greeter.rewrite("greeting", read("(deftool greeting [] 1)"), reason="kind")
    assert result.failures == ["the new form is a deftool, the old one a defn"]


def test_lifecycle_gates_messages(greeter: Agent) -> None:
    from o_lisp.agent._lifecycle import IllegalTransition, Lifecycle

    greeter.change_lifecycle(Lifecycle.SUSPENDED)
    with pytest.raises(AgentError, match="greeter is suspended and does not take messages"):
        greeter.handle("hi x")
    with pytest.raises(IllegalTransition, match="cannot go from suspended to evolving"):
        greeter.change_lifecycle(Lifecycle.EVOLVING)
    greeter.change_lifecycle(Lifecycle.RUNNING)
    assert greeter.handle("hi x") == "Hello, x!"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("(defagent)", "a.hy:1:1: defagent needs a name"),
        ('(defagent a :colour "red")', "a.hy:1:13: unknown option :colour for defagent (known: :version, :doc, :author)"),
        ('(defagent a :version "one")', "a.hy:1:1: version 'one' is not a semantic version (MAJOR.MINOR.PATCH)"),
        ("(defagent a (print 1))", "a.hy:1:13: a defagent body holds definitions"),
        ("(defagent a (defn f [] 1) (defn f [] 2))", "a.hy:1:27: 'f' is defined twice in agent a"),
        ("(defn f [] 1)", "a.hy:1:1: an agent file must hold exactly one (defagent NAME ...) form"),
        ("(defagent a (deftool t [x :colour] 1))", "unknown parameter type :colour"),
        ("(defagent a (deftool t [x] :speed 3 1))", "unknown option :speed for tool t"),
        ("(defagent a (deftool t [[x 1] y] 1))", "a required parameter cannot follow an optional one"),
        ("(defagent a (deftool t [x] :timeout \"soon\" 1))", "option :timeout of tool t must be a int or float"),
        ("(defagent a (defworkflow w (nope)))", "a workflow step is written (step name"),
        ("(defagent a (defworkflow w))", "workflow w has no steps"),
    ],
)
def test_malformed_agents_are_refused_with_positions(tmp_path: Path, source: str, message: str) -> None:
    with pytest.raises(CompileError) as info:
        spec = read_agent(source, "a.hy")
        Agent(spec, tmp_path / "data")
    assert message in str(info.value)


def test_load_reports_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(AgentError, match="cannot read agent file"):
        Agent.load(tmp_path / "missing.hy", tmp_path / "data")


def test_memory_declaration_and_use(tmp_path: Path) -> None:
    source = """(defagent m
      (defmemory notes :block-size 128 :overlap 16 :dim 64)
      (when-> (.startswith msg "note ") (memory-add (cut msg 5 None)) "ok")
      (when-> (.endswith msg "?") (get (get (memory-search msg :k 1) 0) "text")))"""
    agent = Agent(read_agent(source, "m.hy"), tmp_path / "m")
    assert agent.handle("note the cat sleeps on the sofa") == "ok"
    assert agent.handle("note the dog barks at night") == "ok"
    assert agent.handle("where does the cat sleep?") == "the cat sleeps on the sofa"
    assert len(agent.state.memory_stores["notes"]) == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [(":block-size 10 :overlap 50", "memory notes:"), (":colour 1", "memory notes:"), (":dim \"x\"", "memory notes:")],
)
def test_bad_memory_options_are_compile_errors(tmp_path: Path, options: str, message: str) -> None:
    with pytest.raises(CompileError, match=message):
        Agent(read_agent(f"(defagent m (defmemory notes {options}))", "m.hy"), tmp_path / "m")
