"""The agent runtime: agents written in the o_lisp DSL, their state, tools, rules,
workflows, memory and the git repository holding their code (see docs/agents.md)."""

from o_lisp.agent._agent import Agent, AgentError, RewriteResult, TestReport, Tool, ToolError
from o_lisp.agent._definitions import Definition, DefinitionKind
from o_lisp.agent._lifecycle import IllegalTransition, Lifecycle
from o_lisp.agent._repo import CodeRepository, RepositoryError
from o_lisp.agent._state import AgentState, StateError

__all__ = [
    "Agent",
    "AgentError",
    "AgentState",
    "CodeRepository",
    "Definition",
    "DefinitionKind",
    "IllegalTransition",
    "Lifecycle",
    "RepositoryError",
    "RewriteResult",
    "StateError",
    "TestReport",
    "Tool",
    "ToolError",
]
