"""DSL expansion: each declaration becomes the code to compile plus a typed record of its
data parts (`o_lisp.agent._dsl.Expansion`), which the agent keeps until the registration runs."""

from __future__ import annotations

import pytest

from o_lisp import CompileError, read, to_source
from o_lisp.agent._definitions import DefinitionKind
from o_lisp.agent._dsl import (
    MemoryDeclaration,
    SearchSpace,
    StepDeclaration,
    ToolDeclaration,
    WorkflowDeclaration,
    expand_fitness,
    expand_memory,
    expand_rule,
    expand_test,
    expand_tool,
    expand_workflow,
)


def _items(text: str) -> list[object]:
    return list(read(text))[1:]  # the arguments of the declaration's macro


def test_a_tool_is_its_body_as_code_and_its_parameters_and_options_as_a_record() -> None:
    expansion = expand_tool(_items('(deftool shout [text :str [times 1] :int] :doc "Loud." :timeout 1 (* text times))'),
                            "a.hy", None)
    assert (expansion.kind, expansion.name) == (DefinitionKind.TOOL, "shout")
    assert to_source(expansion.form) == "(agent-define-tool \"shout\" (fn [text [times 1]] (* text times)))"
    declared = expansion.declaration
    assert isinstance(declared, ToolDeclaration)
    assert [(p.name, p.type, p.required, p.default) for p in declared.params] == [("text", "str", True, None),
                                                                                  ("times", "int", False, 1)]
    assert dict(declared.options) == {"doc": "Loud.", "timeout": 1}


def test_a_workflow_keeps_its_step_names_and_options_and_compiles_the_conditions() -> None:
    expansion = expand_workflow(_items("(defworkflow w (step a :retries 2 :when (> x 1) (f)) (step b (g)))"),
                                "a.hy", None)
    assert expansion.declaration == WorkflowDeclaration((StepDeclaration("a", {"retries": 2}), StepDeclaration("b", {})))
    assert to_source(expansion.form) == ("(agent-define-workflow \"w\" [(fn [ctx] (f)) (fn [ctx] (g))]"
                                         " [(fn [ctx] (> x 1)) None])")


def test_memory_options_are_checked_when_expanded() -> None:
    expansion = expand_memory(_items("(defmemory notes :dim 16)"), "a.hy", None)
    assert isinstance(expansion.declaration, MemoryDeclaration)
    assert expansion.declaration.options["dim"] == 16
    with pytest.raises(CompileError, match="memory notes: "):
        expand_memory(_items("(defmemory notes :dim -3)"), "a.hy", None)


def test_tests_rules_and_plain_fitness_tasks_declare_no_data() -> None:
    test = expand_test(_items("(deftest t (assert (= 1 1)))"), "a.hy", None)
    assert (test.kind, test.name, test.declaration) == (DefinitionKind.TEST, "t", None)
    rule = expand_rule(_items('(when-> (= msg "hi") "hello")'), "a.hy", None, "rule-1")
    assert (rule.kind, rule.name, rule.declaration) == (DefinitionKind.RULE, "rule-1", None)
    assert to_source(rule.form).startswith('(agent-define-rule "rule-1" (fn [msg event] (if (= msg "hi")')
    fitness = expand_fitness(_items("(deffitness speed 1.0)"), "a.hy", None)
    assert (fitness.kind, fitness.name, fitness.declaration) == (DefinitionKind.FITNESS, "speed", None)


def test_a_fitness_with_a_vocabulary_declares_its_search_space() -> None:
    expansion = expand_fitness(_items("(deffitness fit :for f :primitives [+ *] :terminals [x] (f 1.0))"), "a.hy", None)
    assert isinstance(expansion.declaration, SearchSpace)
    assert (expansion.declaration.target, [p.name for p in expansion.declaration.primitives]) == ("f", ["+", "*"])


def test_a_malformed_declaration_names_the_place() -> None:
    source = "(deftool shout :doc \"no parameters\")"
    with pytest.raises(CompileError) as caught:
        expand_tool(_items(source), "a.hy", source)
    assert str(caught.value) == "a.hy:1:16: tool parameters must be a bracketed list: [name :type ...]"
    with pytest.raises(CompileError, match=r"deftool needs a name and a parameter list"):
        expand_tool(_items("(deftool shout)"), "a.hy", None)
    with pytest.raises(CompileError, match="workflow w has no steps"):
        expand_workflow(_items("(defworkflow w)"), "a.hy", None)
