"""The agent's whole mutable state, changed only through named mutations.

A mutation is an operation name plus msgpack-able arguments: `apply("append_message",
{"role": "user", "text": "hi", "time": 1700000000.0})`. Nothing else writes to the
state, so a write-ahead log of mutations replayed onto a checkpoint (`to_data()`)
reproduces it exactly. Every non-deterministic input (clock readings, generated ids,
embeddings from a remote model) is part of the mutation's arguments, never
computed while applying.

Listeners registered with `on_mutation` see each mutation *before* it is applied
(the guardian's WAL appends and fsyncs there).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

from o_lisp._errors import OLispError
from o_lisp.agent._lifecycle import Lifecycle, check_transition

HISTORY_LIMIT = 1_000
LATENCY_SAMPLES = 200
FORMAT_VERSION = 1
EVOLUTION_LIMIT = 500
"""How many evolution intents and cycle records are kept (each intent may carry a candidate's source)."""

LLM_PENDING_LIMIT = 64
"""How many model replies of the message in progress are kept for a retry to replay."""
DURABLE_NOW: frozenset[str] = frozenset({"llm_reply", "llm_usage"})
"""Mutations a durable listener makes durable before it returns even where it otherwise
defers (`DurableState.batch`, a pipelined worker): their arguments were paid for outside
(a model's reply), and a crash must not make anyone pay for them again."""

INTENT_ORIGINS = ("agent", "operator", "feedback", "metrics", "tests")
EVOLUTION_OUTCOMES = ("promoted", "rejected", "rolled_back")

MutationListener = Callable[[int, str, dict[str, Any]], None]


class StateError(OLispError):
    """A mutation that is unknown or has malformed arguments; nothing was changed."""


_MAX_DATA_DEPTH = 64
MAX_DATA_BYTES = 32 * 1024 * 1024
"""Largest msgpack encoding of one checked value (an estimate that never undercounts by
more than a few bytes per element). The WAL's record limit and the frame limit are 64 MiB;
a mutation's arguments travel inside an envelope, so one value gets half of that."""
_INT_MIN, _INT_END = -(2**63), 2**64
"""msgpack carries int64 and uint64: -2**63 <= n < 2**64."""
_PLAIN_SCALARS = frozenset({type(None), bool, float, bytes})


def _str_size(text: str) -> int | None:
    """Bytes of `text` in msgpack (UTF-8 plus a header), or None if it is not encodable
    (a lone surrogate such as ``chr(55296)``: msgpack's encoder raises on it)."""
    if text.isascii():
        return len(text) + 5
    try:
        return len(text.encode("utf-8")) + 5
    except UnicodeEncodeError:
        return None


def _plainly_data(value: Any) -> bool:
    """True when `value` is certainly storable: exact built-in types only, no deep nesting,
    no container reached twice, encodable strings, 64-bit ints, str/int keys, and an
    encoded size within `MAX_DATA_BYTES`.

    The common case of `check_data`, without building a path string per element (which
    cost more than the mutation itself for a memory block). False means "look closer",
    not "invalid": subclasses, shared substructure and errors are left to the exact,
    recursive check, whose size accounting is memoised per container.
    """
    scalars = _PLAIN_SCALARS
    stack: list[tuple[Any, int]] = [(value, 0)]
    pop, push = stack.pop, stack.append
    seen: set[int] = set()
    remember = seen.add
    size = 0
    while stack:
        node, depth = pop()
        t = type(node)
        if t is str:
            if node.isascii():
                size += len(node) + 5
                continue
            n = _str_size(node)
            if n is None:
                return False
            size += n
            continue
        if t in scalars:
            size += len(node) + 5 if t is bytes else 9
            continue
        if t is int:
            if not _INT_MIN <= node < _INT_END:
                return False
            size += 9
            continue
        if depth >= _MAX_DATA_DEPTH:
            return False
        key = id(node)
        if key in seen:
            return False
        remember(key)
        size += 5
        if t is dict:
            for k in node:
                kt = type(k)
                if kt is str:
                    if k.isascii():
                        size += len(k) + 5
                        continue
                    n = _str_size(k)
                    if n is None:
                        return False
                    size += n
                elif kt is int and _INT_MIN <= k < _INT_END:
                    size += 9
                else:
                    return False
            items = node.values()
        elif t is list or t is tuple:
            items = node
        else:
            return False
        child = depth + 1
        for item in items:
            it = type(item)
            if it is str and item.isascii():
                size += len(item) + 5
            elif it is float or it is bool or item is None:
                size += 9
            elif it is bytes:
                size += len(item) + 5
            else:
                push((item, child))
        if size > MAX_DATA_BYTES:
            return False
    return size <= MAX_DATA_BYTES


def check_data(value: Any, where: str, depth: int = 0) -> None:
    """Refuse values that msgpack cannot carry exactly (state must round-trip).

    Checked exactly as msgpack will encode the value and the guardian will decode it:
    strings must be UTF-8 encodable (no lone surrogates), integers must fit int64 or
    uint64, dict keys must be strings or integers (not booleans: the guardian refuses
    them), nesting is at most 64 levels, and the *expanded* encoding (a list that
    appears 1,000 times is encoded 1,000 times) at most `MAX_DATA_BYTES`. The walk
    visits each distinct container once, so a value that shares substructure costs
    time in proportion to what it holds, not to what it expands to.
    """
    if depth == 0 and _plainly_data(value):
        return
    size = _check_data(value, where, depth, {})
    if size > MAX_DATA_BYTES:
        raise StateError(f"{where}: value would take about {size} bytes when encoded; the limit is {MAX_DATA_BYTES}")


def _check_data(value: Any, where: str, depth: int, sizes: dict[int, int] | None = None) -> int:
    """The exact check; returns the value's encoded size. `sizes` memoises finished
    containers by id (the caller holds `value`, so the ids stay valid)."""
    if sizes is None:
        sizes = {}
    if depth > _MAX_DATA_DEPTH:
        raise StateError(f"{where}: value nested too deeply for agent state")
    if value is None or isinstance(value, bool | float):
        return 9
    if isinstance(value, int):
        if not _INT_MIN <= value < _INT_END:
            raise StateError(f"{where}: integer {value} does not fit in 64 bits")
        return 9
    if isinstance(value, str):
        n = _str_size(value)
        if n is None:
            raise StateError(f"{where}: the text holds a lone surrogate, which UTF-8 cannot encode")
        return n
    if isinstance(value, bytes):
        return len(value) + 5
    known = sizes.get(id(value))
    if known is not None:
        return known
    size = 5
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            size += _check_data(item, f"{where}[{i}]", depth + 1, sizes)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, bool) or not isinstance(key, str | int):
                raise StateError(f"{where}: dict keys must be strings or integers, not {type(key).__name__}")
            if isinstance(key, int) and not _INT_MIN <= key < _INT_END:
                raise StateError(f"{where}: integer key {key} does not fit in 64 bits")
            if isinstance(key, str):
                n = _str_size(key)
                if n is None:
                    raise StateError(f"{where}: a key holds a lone surrogate, which UTF-8 cannot encode")
                size += n
            else:
                size += 9
            size += _check_data(item, f"{where}[{key!r}]", depth + 1, sizes)
    else:
        raise StateError(f"{where}: a {type(value).__name__} cannot be stored in agent state")
    sizes[id(value)] = size
    return size


def plain(value: Any) -> Any:
    """A copy of `value` with tuples as lists and forms as plain values (what msgpack returns)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, list | tuple):
        return [plain(x) for x in value]
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    raise StateError(f"a {type(value).__name__} cannot be stored in agent state")


class AgentState:
    """All mutable state of one agent. Read freely; change only through `apply`."""

    def __init__(self, agent_id: str, name: str, version: str) -> None:
        self.data: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "agent_id": agent_id,
            "name": name,
            "version": version,
            "lifecycle": Lifecycle.INITIALIZING.value,
            "seq": 0,
            "time": 0.0,
            "counter": 0,
            "messages": [],
            "context": {},
            "tool_calls": [],
            "metrics": {},
            "workflows": {},
            "rewrites": [],
            "memories": {},
            "feedback": [],
            "evolution": _empty_evolution(),
            "llm": _empty_llm(),
        }
        self._listeners: list[MutationListener] = []
        self.memory_stores: dict[str, Any] = {}

    # -- reading -----------------------------------------------------------------
    @property
    def lifecycle(self) -> Lifecycle:
        return Lifecycle(self.data["lifecycle"])

    @property
    def version(self) -> str:
        return str(self.data["version"])

    @property
    def seq(self) -> int:
        return int(self.data["seq"])

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    # -- the one way to change it -------------------------------------------------
    def on_mutation(self, listener: MutationListener) -> None:
        self._listeners.append(listener)

    def apply(self, op: str, args: dict[str, Any]) -> Any:
        """Apply one mutation; listeners see it first. Malformed mutations change nothing."""
        handler = _OPS.get(op)
        if handler is None:
            raise StateError(f"unknown state mutation {op!r}")
        if not isinstance(args, dict):
            raise StateError(f"mutation {op!r} needs a dict of arguments")
        check_data(args, op)
        _validate(self, op, args)
        seq = self.data["seq"] + 1
        for listener in self._listeners:
            listener(seq, op, args)
        result = handler(self, args)
        self.data["seq"] = seq
        if "time" in args and isinstance(args["time"], int | float):
            self.data["time"] = max(self.data["time"], float(args["time"]))
        return result

    def observe(self, name: str, ok: bool, duration_ms: float) -> None:
        """Count one call of a rule, step or definition in the metrics.

        Metrics are observations, not mutations: they are not logged (a write-ahead
        log append per rule check would cost an fsync each), so after a crash they
        are as recent as the last checkpoint. Tool calls, which are history, are
        mutations (`record_tool_call`).
        """
        _record_metric(self, {"name": name, "ok": ok, "duration_ms": duration_ms})

    def next_id(self, prefix: str) -> str:
        """A fresh id for a new record (deterministic: derived from the mutation count)."""
        return f"{prefix}{self.data['seq'] + 1}"

    # -- checkpoints -----------------------------------------------------------
    def to_data(self) -> dict[str, Any]:
        data = copy.deepcopy(self.data)
        data["memories"] = {name: store.to_data() for name, store in sorted(self.memory_stores.items())}
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any], memory_factory: Callable[[dict[str, Any]], Any] | None = None) -> AgentState:
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
            raise StateError("agent state data has an unknown format")
        state = cls(str(data["agent_id"]), str(data["name"]), str(data["version"]))
        # The memory stores rebuild their own structures from their data, so only the
        # rest is copied (copying 10 000 blocks' embeddings twice was a third of a restore).
        state.data = copy.deepcopy({k: v for k, v in data.items() if k != "memories"})
        # Checkpoints written before feedback and evolution records existed lack their keys.
        state.data.setdefault("feedback", [])
        evolution = state.data.setdefault("evolution", _empty_evolution())
        for key, value in _empty_evolution().items():
            evolution.setdefault(key, value)
        state.data.setdefault("llm", _empty_llm())
        memories = data.get("memories", {})
        state.data["memories"] = {}
        if memories:
            if memory_factory is None:
                raise StateError("agent state holds memories but no memory factory was given")
            for name, store_data in memories.items():
                state.memory_stores[name] = memory_factory(store_data)
        return state


def _empty_llm() -> dict[str, Any]:
    """`pending`: model replies recorded during the message in progress (a retry of the
    message after a crash replays them instead of asking the provider again; cleared when
    the agent answers); `day`: tokens and cost of the current UTC day, for the daily
    budgets (a restart does not reset them); `totals`: since the agent started."""
    return {"pending": [], "day": _empty_day(""), "totals": _empty_usage()}


def _empty_usage() -> dict[str, Any]:
    return {"requests": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}


def _empty_day(day: str) -> dict[str, Any]:
    """One UTC day's usage, in total and by model name."""
    return {"day": day, **_empty_usage(), "models": {}}


def _empty_evolution() -> dict[str, Any]:
    """`intents`: requests for a protected evolution cycle; `history`: finished cycles;
    `stats`: the learning statistics of the evolution pipeline (computed by the caller)."""
    return {"intents": [], "history": [], "stats": {}}


# -- mutations ------------------------------------------------------------------

def _require(values: dict[str, Any], op: str, types: dict[str, type | tuple[type, ...]]) -> None:
    for key, expected in types.items():
        if key not in values:
            raise StateError(f"mutation {op!r} needs argument {key!r}")
        if not isinstance(values[key], expected):
            raise StateError(f"mutation {op!r}: argument {key!r} has the wrong type ({type(values[key]).__name__})")


_SCHEMAS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "set_lifecycle": {"to": str},
    "set_version": {"version": str},
    "append_message": {"role": str, "text": str, "time": (int, float)},
    "context_set": {"key": str},
    "context_delete": {"key": str},
    "record_tool_call": {"tool": str, "args": (list, dict), "ok": bool, "duration_ms": (int, float), "time": (int, float)},
    "record_metric": {"name": str, "ok": bool, "duration_ms": (int, float)},
    "workflow_update": {"run_id": str, "run": dict},
    "record_rewrite": {"name": str, "commit": str, "version": str, "reason": str, "time": (int, float)},
    "memory_create": {"memory": str, "config": dict},
    "memory_apply": {"memory": str, "payload": dict},
    "record_feedback": {"id": str, "rating": (int, float), "comment": str, "reply_to": (str, type(None)), "time": (int, float)},
    "evolution_intent": {"id": str, "definition": str, "hypothesis": str, "origin": str, "source": (str, type(None)), "time": (int, float)},
    "llm_reply": {"key": str, "model": str, "provider": str, "turn": dict, "cost_usd": (int, float), "day": str,
                  "time": (int, float)},
    "record_evolution": {"cycle": str, "target": str, "generator": str, "operator": str, "outcome": str, "reason": str, "stats": dict, "time": (int, float)},
    "llm_usage": {"model": str, "day": str, "requests": int, "input_tokens": int, "output_tokens": int,
                  "cost_usd": (int, float), "source": str, "time": (int, float)},
}


def _validate(state: AgentState, op: str, args: dict[str, Any]) -> None:
    """Everything that can make a mutation fail is checked here, before listeners see it."""
    _require(args, op, _SCHEMAS.get(op, {}))
    if op == "set_lifecycle":
        try:
            wanted = Lifecycle(args["to"])
        except ValueError:
            raise StateError(f"unknown lifecycle state {args['to']!r}") from None
        check_transition(state.lifecycle, wanted)
    elif op == "memory_create" and args["memory"] in state.memory_stores:
        raise StateError(f"memory {args['memory']!r} exists already")
    elif op == "memory_apply" and args["memory"] not in state.memory_stores:
        raise StateError(f"no memory named {args['memory']!r}")
    elif op == "append_message" and "id" in args and not isinstance(args["id"], str):
        raise StateError(f"mutation {op!r}: argument 'id' has the wrong type ({type(args['id']).__name__})")
    elif op == "record_feedback":
        rating = args["rating"]
        if isinstance(rating, bool) or not math.isfinite(rating) or not -1 <= rating <= 1:
            raise StateError(f"mutation {op!r}: rating must be a number in [-1, 1], got {rating!r}")
    elif op == "evolution_intent" and args["origin"] not in INTENT_ORIGINS:
        raise StateError(f"mutation {op!r}: origin must be one of {', '.join(INTENT_ORIGINS)}, got {args['origin']!r}")
    elif op == "llm_reply":
        usage = args["turn"].get("usage", {})
        if not isinstance(args["turn"].get("text", ""), str) or not isinstance(usage, dict) or not all(
                type(usage.get(k, 0)) is int and usage.get(k, 0) >= 0 for k in ("input_tokens", "output_tokens")):
            raise StateError(f"mutation {op!r}: turn must hold text and usage counts")
    elif op == "llm_usage":
        counts = [args[k] for k in ("requests", "input_tokens", "output_tokens")]
        cost = args["cost_usd"]
        if any(type(c) is not int or c < 0 for c in counts) or isinstance(cost, bool) or not math.isfinite(cost) \
                or cost < 0:
            raise StateError(f"mutation {op!r}: usage counts and cost must be non-negative numbers")
    elif op == "record_evolution" and args["outcome"] not in EVOLUTION_OUTCOMES:
        raise StateError(f"mutation {op!r}: outcome must be one of {', '.join(EVOLUTION_OUTCOMES)}, got {args['outcome']!r}")


def _set_lifecycle(state: AgentState, args: dict[str, Any]) -> None:
    state.data["lifecycle"] = Lifecycle(args["to"]).value


def _set_version(state: AgentState, args: dict[str, Any]) -> None:
    state.data["version"] = args["version"]


def _bounded_append(items: list[Any], item: Any, limit: int = HISTORY_LIMIT) -> None:
    items.append(item)
    if len(items) > limit:
        del items[: len(items) - limit]


def _append_message(state: AgentState, args: dict[str, Any]) -> None:
    message = {"role": args["role"], "text": args["text"], "time": float(args["time"])}
    if "id" in args:
        message["id"] = args["id"]
    _bounded_append(state.data["messages"], message)
    if args["role"] == "agent" and state.data["llm"]["pending"]:
        state.data["llm"]["pending"] = []  # answered: nothing left for a retry to replay


def _llm_reply(state: AgentState, args: dict[str, Any]) -> None:
    """A model's reply, recorded before it is used: kept for a retry of the message in
    progress, and counted in the day's and the total usage."""
    llm = state.data["llm"]
    entry = {k: plain(args[k]) for k in ("key", "model", "provider", "turn", "day")}
    entry["cost_usd"] = float(args["cost_usd"])
    entry["time"] = float(args["time"])
    _bounded_append(llm["pending"], entry, LLM_PENDING_LIMIT)
    usage = args["turn"].get("usage") or {}
    tokens_in, tokens_out = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
    if llm["day"]["day"] != args["day"]:
        llm["day"] = _empty_day(args["day"])
    for bucket in (llm["day"], llm["day"]["models"].setdefault(args["model"], _empty_usage()), llm["totals"]):
        bucket["requests"] += 1
        bucket["input_tokens"] += tokens_in
        bucket["output_tokens"] += tokens_out
        bucket["cost_usd"] += float(args["cost_usd"])


def _llm_usage(state: AgentState, args: dict[str, Any]) -> None:
    """Model usage the host spent for the agent elsewhere (an evolution cycle's LLM
    generator, in a shadow whose state is thrown away), added to the day's and the total
    usage so the daily budgets count it. Usage of a day already past counts in the
    totals only; of a later day, it starts that day (as `llm_reply` does)."""
    llm = state.data["llm"]
    buckets = [llm["totals"]]
    if args["day"] >= llm["day"]["day"]:
        if args["day"] != llm["day"]["day"]:
            llm["day"] = _empty_day(args["day"])
        buckets += [llm["day"], llm["day"]["models"].setdefault(args["model"], _empty_usage())]
    for bucket in buckets:
        bucket["requests"] += args["requests"]
        bucket["input_tokens"] += args["input_tokens"]
        bucket["output_tokens"] += args["output_tokens"]
        bucket["cost_usd"] += float(args["cost_usd"])


def _context_set(state: AgentState, args: dict[str, Any]) -> None:
    state.data["context"][args["key"]] = plain(args.get("value"))


def _context_delete(state: AgentState, args: dict[str, Any]) -> None:
    state.data["context"].pop(args["key"], None)


def _record_tool_call(state: AgentState, args: dict[str, Any]) -> None:
    entry = {k: plain(args[k]) for k in ("tool", "args", "ok", "duration_ms", "time")}
    entry["result" if args["ok"] else "error"] = plain(args.get("result" if args["ok"] else "error"))
    _bounded_append(state.data["tool_calls"], entry)
    _record_metric(state, {"name": "tool:" + args["tool"], "ok": args["ok"], "duration_ms": args["duration_ms"]})


def _record_metric(state: AgentState, args: dict[str, Any]) -> None:
    metrics = state.data["metrics"].setdefault(args["name"], {"calls": 0, "errors": 0, "total_ms": 0.0, "latencies_ms": []})
    metrics["calls"] += 1
    metrics["errors"] += 0 if args["ok"] else 1
    metrics["total_ms"] += float(args["duration_ms"])
    samples = metrics["latencies_ms"]
    samples.append(float(args["duration_ms"]))
    if len(samples) > LATENCY_SAMPLES:
        del samples[: len(samples) - LATENCY_SAMPLES]


def _workflow_update(state: AgentState, args: dict[str, Any]) -> None:
    state.data["workflows"][args["run_id"]] = plain(args["run"])


def _record_rewrite(state: AgentState, args: dict[str, Any]) -> None:
    state.data["rewrites"].append({k: plain(args[k]) for k in ("name", "commit", "version", "reason", "time")})
    state.data["version"] = args["version"]


def _memory_create(state: AgentState, args: dict[str, Any]) -> None:
    from o_lisp.memory import (  # NumPy/Numba: loaded by the first memory created
        MemoryConfig,
        MemoryStore,
    )

    state.memory_stores[args["memory"]] = MemoryStore(MemoryConfig.from_options(dict(args["config"])))


def _memory_apply(state: AgentState, args: dict[str, Any]) -> Any:
    return state.memory_stores[args["memory"]].apply(args["payload"])


def _record_feedback(state: AgentState, args: dict[str, Any]) -> None:
    entry = {k: plain(args[k]) for k in ("id", "rating", "comment", "reply_to")}
    entry["rating"] = float(entry["rating"])
    entry["time"] = float(args["time"])
    _bounded_append(state.data["feedback"], entry)


def _evolution_intent(state: AgentState, args: dict[str, Any]) -> None:
    entry = {k: plain(args[k]) for k in ("id", "definition", "hypothesis", "origin", "source")}
    entry["time"] = float(args["time"])
    _bounded_append(state.data["evolution"]["intents"], entry, EVOLUTION_LIMIT)


def _record_evolution(state: AgentState, args: dict[str, Any]) -> None:
    entry = {k: plain(args[k]) for k in ("cycle", "target", "generator", "operator", "outcome", "reason")}
    entry["time"] = float(args["time"])
    _bounded_append(state.data["evolution"]["history"], entry, EVOLUTION_LIMIT)
    state.data["evolution"]["stats"] = plain(args["stats"])


_OPS: dict[str, Callable[[AgentState, dict[str, Any]], Any]] = {
    "set_lifecycle": _set_lifecycle,
    "set_version": _set_version,
    "append_message": _append_message,
    "context_set": _context_set,
    "context_delete": _context_delete,
    "record_tool_call": _record_tool_call,
    "record_metric": _record_metric,
    "workflow_update": _workflow_update,
    "record_rewrite": _record_rewrite,
    "memory_create": _memory_create,
    "memory_apply": _memory_apply,
    "record_feedback": _record_feedback,
    "evolution_intent": _evolution_intent,
    "record_evolution": _record_evolution,
    "llm_reply": _llm_reply,
    "llm_usage": _llm_usage,
}

OPERATIONS: frozenset[str] = frozenset(_OPS)

__all__ = ["DURABLE_NOW", "EVOLUTION_OUTCOMES", "INTENT_ORIGINS", "OPERATIONS", "AgentState", "StateError", "check_data", "plain"]
