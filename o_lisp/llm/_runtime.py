"""What an agent's code sees of models: `defllm`, `(llm ...)`, `(llm-chat ...)`.

One `LLMRuntime` belongs to one agent. The agent asks it for its builtins (each time it
builds an interpreter, which also forgets the models of a previous load) and hands it
`(defllm ...)` forms to expand. A model is reached only when the agent holds the `llm`
grant. The request runs on a helper thread while the evaluating thread waits in short
slices, spending a budget step per slice: the evaluation's time limit, a tool's timeout
and `Interpreter.cancel` therefore stop the wait (the abandoned request ends at its own
timeout, which is never longer than the evaluation's remaining time).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

from o_lisp._budget import STACK_SIZE_LOCK
from o_lisp._errors import CompileError, LimitExceeded, Position, SandboxViolation
from o_lisp._mangle import mangle
from o_lisp.agent._definitions import DefinitionKind
from o_lisp.agent._dsl import literal_data, literal_or_error
from o_lisp.agent._state import StateError, plain
from o_lisp.forms import Expression, Keyword, String, Symbol
from o_lisp.llm import _metrics
from o_lisp.llm._breaker import CircuitBreaker, breaker_for, counts_against_the_server
from o_lisp.llm._budget import Budgets, estimated_tokens, price_of, utc_day
from o_lisp.llm._config import ModelConfig
from o_lisp.llm._errors import (
    LLMBadReply,
    LLMBudgetError,
    LLMConfigError,
    LLMError,
    LLMNotGranted,
    LLMServerError,
    LLMToolLoopError,
)
from o_lisp.llm._exchange import ReplyExchange
from o_lisp.llm._schema import check_schema, violation
from o_lisp.llm._settings import LLMSettings
from o_lisp.llm._types import ROLES, Message, Provider, ToolCall, ToolSpec, Turn, Usage

if TYPE_CHECKING:
    from o_lisp.agent._agent import Agent, Tool

T = TypeVar("T")

GRANT = "llm"
MAX_ROUNDS = 8
"""Model turns one `llm-chat` may take (each tool round is one) unless `:max-rounds` says."""
POLL = 0.02
"""Seconds between two budget checks while a request is in flight."""
GRACE = 1.0
"""Seconds a request may outlive the evaluation's time limit (the limit fires first)."""


def make_provider(config: ModelConfig, base: Path | None = None, *, trusted: bool = True) -> Provider:
    """The provider for a model config (`base`: where a scripted model's relative script is).

    `trusted` is False for a model the agent declared itself: its `:base-url` is agent code
    (which can rewrite itself), so the operator's key is sent only to the SDK's default
    endpoint or to the one its environment variable names, never to an address the agent chose.
    """
    try:
        return _make_provider(config, base, trusted)
    except ImportError as error:
        raise LLMConfigError(f"the {config.provider} SDK is not installed ({error.name}); "
                             "install the extra: pip install 'o-lisp[llm]'", provider=config.provider,
                             model=config.model) from None


def _make_provider(config: ModelConfig, base: Path | None, trusted: bool) -> Provider:
    if config.provider == "openai":
        from o_lisp.llm._sdk import (
            OpenAIProvider,  # an SDK loads only when a model of its provider is used
        )

        return OpenAIProvider(config, send_key=trusted or _endpoint_is_the_operators(config, "OPENAI_BASE_URL"))
    if config.provider == "anthropic":
        from o_lisp.llm._sdk import (
            AnthropicProvider,  # an SDK loads only when a model of its provider is used
        )

        return AnthropicProvider(config, send_key=trusted or _endpoint_is_the_operators(config, "ANTHROPIC_BASE_URL"))
    if config.provider == "ollama":
        from o_lisp.llm._sdk import (
            OllamaProvider,  # an SDK loads only when a model of its provider is used
        )

        return OllamaProvider(config, send_key=trusted or _endpoint_is_the_operators(config, "OLLAMA_HOST"))
    if config.provider == "scripted":
        from o_lisp.llm._scripted import ScriptedProvider  # as the SDK providers: on first use

        return ScriptedProvider(config, base)
    from o_lisp.llm._plugins import (
        custom_factory,  # entry points are scanned only for a provider not built in
    )

    provider: Provider = custom_factory(config.provider)(config)
    return provider


ENDPOINT_VARIABLES = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL", "ollama": "OLLAMA_HOST"}


def _endpoint_is_the_operators(config: ModelConfig, variable: str) -> bool:
    """True when the model uses the SDK's own endpoint: none given, or the environment's."""
    return config.base_url is None or config.base_url.rstrip("/") == os.environ.get(variable, "").rstrip("/")


class LLMRuntime:
    """The models of one agent and the builtins that call them."""

    def __init__(self, agent: Agent, host_models: Mapping[str, ModelConfig] | LLMSettings | None = None) -> None:
        self.agent = agent
        self.settings = host_models if isinstance(host_models, LLMSettings) else LLMSettings(dict(host_models or {}))
        """The operator's settings (`[llm]` of o-lisp.toml): models, allowed endpoints, breaker, prices."""
        self.host_models = dict(self.settings.models)
        """Models given by the operator: they win over the agent's `defllm` of the same name."""
        self.declared: dict[str, ModelConfig] = {}
        self._pending: dict[str, ModelConfig] = {}
        self._providers: dict[ModelConfig, Provider] = {}
        self.budgets = Budgets(self.settings, agent.name)
        self._replayed: list[dict[str, Any]] = []  # recorded replies used by the message in progress
        self.exchange: ReplyExchange | None = None
        """Where the serving worker publishes its replies and a shadow looks for them (`_exchange`)."""
        self.shadow = False
        """An evolution shadow: it reuses the live arm's replies (`[llm] shadow_replies`)."""
        self._shadow_spent = [0]  # shared with the runtimes of this shadow's copies (`inherit`)
        self._host_request = False  # `complete_text` in progress: a shadow pays for it itself
        self.on_text: Callable[[str], None] | None = None
        """When set (`o-lisp run --stream`), requests stream through providers that can
        (`stream`), and each piece of text goes here as it arrives (on the request's thread)."""

    def inherit(self, original: LLMRuntime) -> None:
        """The runtime of a copy of `original`'s agent: a shadow's copies (the candidate it
        serves with, scratch runs) reuse the live arm's replies as it does; a copy of the
        serving agent does not publish (its replies are not the live arm's)."""
        if original.shadow:
            self.exchange, self.shadow, self._shadow_spent = original.exchange, True, original._shadow_spent

    @property
    def shadow_spent(self) -> int:
        """Tokens this shadow (with its copies) spent on requests of its own (`[llm] shadow_token_budget`)."""
        return self._shadow_spent[0]

    def share_replies(self, directory: str | Path, *, shadow: bool) -> None:
        """Serving worker (`shadow` False): publish every recorded reply to `directory`;
        shadow: take replies from there instead of asking the provider."""
        self.exchange = ReplyExchange(directory)
        self.shadow = shadow

    def begin_message(self) -> None:
        """A new message: each recorded reply of an unanswered one may be replayed once more."""
        self._replayed = []

    # -- wiring into the agent -------------------------------------------------------------
    def builtins(self) -> dict[str, Any]:
        """The names agent code sees (called for every new interpreter: declarations restart)."""
        self.declared = {}
        return {
            "agent-define-llm": self._register,
            "llm": self.llm,
            "llm-chat": self.chat,
            "llm-models": lambda: sorted({*self.declared, *self.host_models}),
            "LLMError": LLMError,
            "LLMBudgetError": LLMBudgetError,
        }

    def expand(self, items: list[Any], filename: str) -> Any:
        """`(defllm NAME :option value ...)` → `(agent-define-llm "NAME")`, options checked now."""
        if not items or type(items[0]) is not Symbol:
            raise CompileError("defllm needs a name: (defllm NAME :provider \"openai\" :model \"...\")",
                               _position(items[0] if items else None, filename))
        name = str(items[0])
        rest = items[1:]
        options: dict[str, Any] = {}
        for i in range(0, len(rest), 2):
            key = rest[i]
            if type(key) is not Keyword:
                raise CompileError(f"model {name}: expected an option keyword", _position(key, filename))
            if i + 1 >= len(rest):
                raise CompileError(f"model {name}: option :{key.name} needs a value", _position(key, filename))
            read = literal_data if key.name == "fallback" else literal_or_error  # :fallback ["m2" "m3"]
            options[key.name] = read(rest[i + 1], filename, None, f"model {name}: option :{key.name}")
        try:
            config = ModelConfig.from_options(name, options)
            if config.script is not None:
                _check_script_path(config)
        except LLMConfigError as error:
            raise CompileError(str(error), _position(items[0], filename)) from None
        self._pending[name] = config
        return Expression([Symbol("agent-define-llm"), String(name)])

    def _register(self, name: str) -> None:
        """`agent-define-llm`: accepted only while the `defllm` of that name itself loads
        (agent code calling it at run time could otherwise swap the agent's models)."""
        current = self.agent._current
        if current is None or current.kind is not DefinitionKind.LLM or current.name != str(name) \
                or str(name) not in self._pending:
            raise SandboxViolation(f"defllm {name} can only be declared by its own definition")
        self.declared[str(name)] = self._pending.pop(str(name))

    # -- choosing a model ------------------------------------------------------------------
    def model(self, name: str | None) -> ModelConfig:
        models = {**self.declared, **self.host_models}
        if name is None:  # `default`, else the agent's only declared model (the host's fallbacks
            if "default" in models:  # and spares do not make it ambiguous), else the only model
                return models["default"]
            if len(self.declared) == 1:
                return models[next(iter(self.declared))]
            if len(models) == 1:
                return next(iter(models.values()))
            raise LLMConfigError(f"agent {self.agent.name} has {len(models)} models; say which with :model NAME"
                                 + (f" ({', '.join(sorted(models))})" if models else " (declare one with defllm)"))
        if str(name) not in models:
            known = ", ".join(sorted(models)) or "none; declare one with defllm"
            raise LLMConfigError(f"agent {self.agent.name} has no model {name!r} (models: {known})")
        return models[str(name)]

    def _provider(self, config: ModelConfig) -> Provider:
        provider = self._providers.get(config)
        if provider is None:
            trusted = self.host_models.get(config.name) == config
            if not trusted and config.base_url is not None and not self.settings.allows(config.base_url) \
                    and not _endpoint_is_the_operators(config, ENDPOINT_VARIABLES.get(config.provider, "")):
                raise LLMConfigError(f"model {config.name}: :base-url {config.base_url} is not an allowed endpoint; "
                                     "the operator allows one in o-lisp.toml ([llm] allowed_base_urls) or gives "
                                     "the model itself ([llm.models." + config.name + "])",
                                     provider=config.provider, model=config.model)
            base = None if trusted else Path(self.agent.spec.filename).parent
            provider = self._providers[config] = make_provider(config, base, trusted=trusted)
        return provider

    def _breaker(self, config: ModelConfig) -> CircuitBreaker:
        variable = ENDPOINT_VARIABLES.get(config.provider)
        endpoint = config.base_url or (os.environ.get(variable, "") if variable else "")
        return breaker_for(config.provider, endpoint, self.settings.breaker_failures, self.settings.breaker_cooldown)

    def _chain(self, config: ModelConfig) -> list[ModelConfig]:
        """The model and its fallbacks, in order (a fallback's own fallbacks are not followed)."""
        chain = [config]
        for name in config.fallback:
            other = self.model(name)
            if other not in chain:
                chain.append(other)
        return chain

    def _check_grant(self) -> None:
        grants = self.agent.grants
        if GRANT not in grants and "*" not in grants:
            raise LLMNotGranted(f"agent {self.agent.name} was not granted the {GRANT} capability: run it with "
                                f"--grant {GRANT} (or Agent.load(..., grants=[\"{GRANT}\"]))")

    # -- the builtins ----------------------------------------------------------------------
    def llm(self, prompt: Any, model: str | None = None, system: str | None = None) -> str:
        """`(llm PROMPT :model NAME :system TEXT)` → the model's answer as text."""
        reply = self.chat([{"role": "user", "content": _text(prompt, "the prompt")}], model=model, system=system)
        return str(reply["text"])

    def chat(self, messages: Any, model: str | None = None, tools: Any = None, schema: Any = None,
             system: str | None = None, max_rounds: int = MAX_ROUNDS) -> dict[str, Any]:
        """`(llm-chat MESSAGES :model NAME :tools [tool ...] :schema SCHEMA :system TEXT :max-rounds N)`.

        Runs the tool loop: while the model asks for tool calls (only the offered tools),
        each is made through the agent's own tool machinery (validation, grants, timeouts,
        budgets, recording) and its result or error goes back to the model. The reply:
        `{"text" "tool_calls" "usage" "rounds" "model" "provider"}`, plus `"data"` (the
        parsed JSON answer) when a schema was given.
        """
        if not self._host_request:
            self._check_grant()
        config = self.model(model)
        conversation = _messages(messages)
        if system is not None:
            conversation.insert(0, {"role": "system", "content": _text(system, ":system")})
        offered = self._offered(tools)
        specs = [ToolSpec(name, tool.doc or tool.name, tool.schema["parameters"]) for name, tool in offered.items()]
        checked_schema = _schema(schema)
        if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 1:
            raise LLMConfigError("llm-chat: :max-rounds must be a positive integer")
        usage = Usage()
        made: list[dict[str, Any]] = []
        for round_number in range(1, max_rounds + 1):
            answered, turn = self._request(config, conversation, specs, checked_schema, usage)
            usage = usage + turn.usage
            self.budgets.after(answered, self.agent.state["llm"]["day"], utc_day(self.agent.clock()), usage)
            if not turn.tool_calls:
                reply: dict[str, Any] = {"text": turn.text, "tool_calls": made, "usage": usage.as_data(),
                                         "rounds": round_number, "model": answered.name,
                                         "provider": answered.provider}
                if checked_schema is not None:
                    reply["data"] = _structured(turn.text, checked_schema, answered)
                return reply
            conversation.append({"role": "assistant", "content": turn.text,
                                 "tool_calls": [call.as_data() for call in turn.tool_calls]})
            for call in turn.tool_calls:
                record = {"id": call.id, "name": call.name, "arguments": plain(call.arguments)}
                content = self._call(offered, call.name, call.arguments, record)
                made.append(record)
                conversation.append({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": content})
        raise LLMToolLoopError(f"still calling tools after {max_rounds} rounds", provider=config.provider,
                               model=config.model or config.name)

    def complete_text(self, prompt: str, model: str | None = None, *, system: str | None = None) -> str:
        """A request the host makes for the agent (evolution's LLM generator), not agent code:
        no `llm` grant needed, but the same models, budgets (the day's usage included),
        breakers, fallbacks, metrics and `llm_reply` record as `(llm ...)`. It runs as an
        evaluation of its own, limited to the model's timeout (with its retries); in a
        shadow it is paid for, not taken from the live arm."""
        config = self.model(model)
        limits = replace(self.agent.limits, time=config.timeout * (config.retries + 1) + GRACE, steps=None)
        interpreter = self.agent.interpreter

        def run() -> str:
            with interpreter._evaluation(limits):
                return self.llm(prompt, model=model, system=system)

        self._host_request = True
        try:
            return str(interpreter._run(run, limits))
        finally:
            self._host_request = False

    def _offered(self, tools: Any) -> dict[str, Tool]:
        """The agent's tools named (or given as values) in `:tools`, by provider-safe name."""
        if tools is None:
            return {}
        if not isinstance(tools, list | tuple):
            raise LLMConfigError("llm-chat: :tools must be a list of the agent's tools")
        by_mangled = {mangle(name): tool for name, tool in self.agent.tools.items()}
        offered: dict[str, Tool] = {}
        for item in tools:
            key = getattr(item, "__name__", None) if callable(item) else str(item)
            tool = self.agent.tools.get(str(key)) or by_mangled.get(mangle(str(key)))
            if tool is None:
                known = ", ".join(sorted(self.agent.tools)) or "none"
                raise LLMConfigError(f"llm-chat: {key!s} is not a tool of agent {self.agent.name} (tools: {known})")
            offered[mangle(tool.name)] = tool
        return offered

    def _call(self, offered: Mapping[str, Tool], name: str, arguments: dict[str, Any], record: dict[str, Any]) -> str:
        """Make one tool call the model asked for; its result (or error) as text for the model."""
        tool = offered.get(name)
        try:
            if tool is None:
                raise LLMBadReply(f"the model called {name!r}, which was not offered")
            result = self.agent._call_tool(tool, (), {str(k): v for k, v in arguments.items()})
        except (LimitExceeded, SandboxViolation):
            raise
        except Exception as error:
            record.update(ok=False, error=f"{type(error).__name__}: {error}")
            return json.dumps({"error": str(error)})
        shown = _data(result)
        record.update(ok=True, result=shown)
        return json.dumps(shown)

    def _request(self, config: ModelConfig, conversation: list[Message], specs: list[ToolSpec],
                 schema: dict[str, Any] | None, spent: Usage) -> tuple[ModelConfig, Turn]:
        """One model turn: a recorded reply to this very request if the message in progress
        has one (a retry after a crash), else the model, else its fallbacks in order while
        the failure is the server's (timeout, 429, 5xx, unreachable, circuit open). A new
        reply is recorded (`llm_reply`, durable at once) before it is used. Returns who
        answered."""
        key = request_key(config, conversation, specs, schema)
        replayed = self._replay(key, config)
        if replayed is not None:
            return replayed
        prompt_tokens = estimated_tokens(conversation, specs, schema)
        if self.shadow and not self._host_request:
            shared = self._from_the_live_arm(key, config)
            if shared is not None:
                return shared
        today = utc_day(self.agent.clock())
        self.budgets.before(config, self.agent.state["llm"]["day"], today, spent, prompt_tokens)
        chain = self._chain(config)
        for i, candidate in enumerate(chain):
            try:
                turn = self._attempt(candidate, conversation, specs, schema)
            except LLMError as error:
                if i + 1 == len(chain) or not counts_against_the_server(error):
                    raise
                continue
            self._record(key, candidate, turn, today)
            if self.shadow:
                self._shadow_spent[0] += turn.usage.input_tokens + turn.usage.output_tokens
            return candidate, turn
        raise AssertionError("unreachable: the chain is never empty")

    def _replay(self, key: str, config: ModelConfig) -> tuple[ModelConfig, Turn] | None:
        """The recorded reply to request `key` of the message in progress, not used yet by it."""
        for record in self.agent.state["llm"]["pending"]:
            if record["key"] == key and not any(record is used for used in self._replayed):
                self._replayed.append(record)
                answered = {**self.declared, **self.host_models}.get(record["model"], config)
                _metrics.record_replayed(answered.provider, answered.model or answered.name)
                return answered, turn_from_data(record["turn"])
        return None

    def _from_the_live_arm(self, key: str, config: ModelConfig) -> tuple[ModelConfig, Turn] | None:
        """A shadow's request: the live arm's reply to the same request, else (`own`) None
        within the shadow's token budget, else `LLMBudgetError` (no request is made)."""
        settings = self.settings
        shared = None if self.exchange is None else \
            self.exchange.lookup(key, settings.shadow_wait, self.agent.interpreter._budget.charge)
        if shared is not None:
            answered = {**self.declared, **self.host_models}.get(str(shared.get("model")), config)
            _metrics.record_replayed(answered.provider, answered.model or answered.name)
            return answered, turn_from_data(shared.get("turn") or {})
        label = config.model or config.name
        if settings.shadow_replies != "own":
            raise LLMBudgetError(f"a shadow does not call the provider ([llm] shadow_replies = \"reuse\"): the live "
                                 f"arm made no such request within {settings.shadow_wait:g} s", budget="shadow_replies",
                                 limit=0, used=0, source="[llm]", provider=config.provider, model=label)
        if self.shadow_spent >= settings.shadow_token_budget:
            raise LLMBudgetError(f"shadow_token_budget ([llm]) of this shadow exceeded: it spent {self.shadow_spent} "
                                 f"tokens; the limit is {settings.shadow_token_budget}", budget="shadow_token_budget",
                                 limit=settings.shadow_token_budget, used=self.shadow_spent, source="[llm]",
                                 provider=config.provider, model=label)
        return None

    def _record(self, key: str, answered: ModelConfig, turn: Turn, today: str) -> None:
        """Log the reply as a state mutation (the WAL has it before it is used); the serving
        worker then publishes it for the shadows."""
        price = price_of(self.settings, answered)
        cost = 0.0 if price is None else price.cost(turn.usage.input_tokens, turn.usage.output_tokens)
        self.agent.state.apply("llm_reply", {"key": key, "model": answered.name, "provider": answered.provider,
                                             "turn": turn_data(turn), "cost_usd": cost, "day": today,
                                             "time": self.agent.clock()})
        record = self.agent.state["llm"]["pending"][-1]
        self._replayed.append(record)  # not replayed to this message again
        if self.exchange is not None and not self.shadow:
            self.exchange.publish(key, record)

    def _attempt(self, config: ModelConfig, conversation: list[Message], specs: list[ToolSpec],
                 schema: dict[str, Any] | None) -> Turn:
        """One request to one model, through its endpoint's circuit breaker. The provider is
        made on the helper thread too: the first import of an SDK takes seconds on a loaded
        machine, and the budget keeps running meanwhile."""
        budget = self.agent.interpreter.budget
        timeout = config.timeout
        if budget.deadline is not None:
            # a little past the evaluation's end, so that the time limit (not the SDK) reports it
            timeout = max(0.001, min(timeout, budget.deadline - time.monotonic() + GRACE))
        model_label = config.model or config.name
        breaker = self._breaker(config)
        try:
            breaker.before(config.provider, model_label)
        except LLMError as refused:  # counted as an error; no request, so no latency sample
            _metrics.record_refused(config.provider, model_label, refused)
            raise
        started = time.perf_counter()
        ok = False

        def call() -> Turn:
            try:
                provider = self._provider(config)
                stream = getattr(provider, "stream", None)
                if self.on_text is not None and callable(stream):
                    turn: Turn = stream(list(conversation), tools=specs, schema=schema, timeout=timeout,
                                        on_text=self.on_text)
                    return turn
                return provider.complete(list(conversation), tools=specs, schema=schema, timeout=timeout)
            except LLMError:
                raise
            except Exception as error:  # a custom provider's own failure
                raise LLMServerError(f"provider failed: {type(error).__name__}: {error}", provider=config.provider,
                                     model=model_label) from None

        try:
            turn = wait_cancellable(call, budget.charge)
            ok = True
        except LLMError as error:
            breaker.failure(error)
            _metrics.record_error(config.provider, model_label, time.perf_counter() - started, error)
            raise
        except BaseException:  # the budget stopped the wait: the request's outcome is unknown
            breaker.abandon()
            raise
        finally:
            self.agent.state.observe(f"llm:{config.name}", ok, (time.perf_counter() - started) * 1000)
        breaker.success()
        price = price_of(self.settings, config)
        cost = None if price is None else price.cost(turn.usage.input_tokens, turn.usage.output_tokens)
        _metrics.record_success(config.provider, model_label, time.perf_counter() - started, turn.usage, cost)
        return turn


def request_key(config: ModelConfig, conversation: list[Message], specs: list[ToolSpec],
                schema: dict[str, Any] | None) -> str:
    """What identifies one request: the model asked and everything sent to it (a hash)."""
    shown = [config.name, config.provider, config.model, conversation,
             [[spec.name, spec.description, spec.parameters] for spec in specs], schema]
    return hashlib.sha256(json.dumps(shown, sort_keys=True, default=repr).encode()).hexdigest()[:32]


def turn_data(turn: Turn) -> dict[str, Any]:
    """A turn as plain data (what `llm_reply` records)."""
    return {"text": turn.text, "tool_calls": [plain(call.as_data()) for call in turn.tool_calls],
            "usage": turn.usage.as_data()}


def turn_from_data(data: Mapping[str, Any]) -> Turn:
    usage = data.get("usage") or {}
    return Turn(str(data.get("text", "")),
                tuple(ToolCall(str(c["id"]), str(c["name"]), dict(c["arguments"])) for c in data.get("tool_calls", ())),
                Usage(int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))))


def wait_cancellable(call: Callable[[], T], tick: Callable[[int], None], poll: float = POLL) -> T:
    """`call()` on a helper thread; meanwhile `tick(1)` every `poll` seconds, so a budget
    that runs out (time limit, nested deadline, cancel) raises here and the wait ends."""
    done = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as error:
            box["error"] = error
        finally:
            done.set()

    with STACK_SIZE_LOCK:
        previous = threading.stack_size(0)
        try:
            threading.Thread(target=run, name="o_lisp-llm", daemon=True).start()
        finally:
            threading.stack_size(previous)
    while not done.wait(poll):
        tick(1)
    tick(1)  # a budget that ran out while the request finished still wins
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def _check_script_path(config: ModelConfig) -> None:
    """An agent's own `:script` is a relative path inside its seed's directory."""
    path = PurePosixPath(str(config.script))
    if path.is_absolute() or ".." in path.parts or "\\" in str(config.script):
        raise LLMConfigError(f"model {config.name}: :script must be a relative path inside the agent's directory")


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise LLMConfigError(f"{what} must be text, not {type(value).__name__}")
    return str(value)


def _messages(messages: Any) -> list[Message]:
    """Agent-given messages → checked plain dicts."""
    if not isinstance(messages, list | tuple) or not messages:
        raise LLMConfigError("llm-chat: MESSAGES must be a non-empty list of {\"role\" ... \"content\" ...} dicts")
    out: list[Message] = []
    for i, message in enumerate(messages, 1):
        try:
            data = plain(message)
        except StateError as error:
            raise LLMConfigError(f"llm-chat: message {i}: {error}") from None
        if not isinstance(data, dict) or data.get("role") not in ROLES or not isinstance(data.get("content", ""), str):
            raise LLMConfigError(f"llm-chat: message {i} must be a dict with a role ({', '.join(ROLES)}) "
                                 "and text content")
        if data["role"] == "tool" and not isinstance(data.get("tool_call_id"), str):
            raise LLMConfigError(f"llm-chat: message {i} (role tool) needs a tool_call_id")
        out.append(data)
    return out


def _schema(schema: Any) -> dict[str, Any] | None:
    if schema is None:
        return None
    try:
        data = plain(schema)
    except StateError:
        data = None
    if not isinstance(data, dict):
        raise LLMConfigError("llm-chat: :schema must be a JSON Schema given as a dict")
    try:
        problem = check_schema(data)
    except ImportError as error:
        raise LLMConfigError(f"llm-chat: :schema needs the jsonschema library ({error.name}); "
                             "install the extra: pip install 'o-lisp[llm]'") from None
    if problem is not None:
        raise LLMConfigError(f"llm-chat: :schema is not a usable JSON Schema: {problem}")
    return data


def _structured(text: str, schema: dict[str, Any], config: ModelConfig) -> Any:
    """The JSON answer of a model asked for structured output, validated against the
    schema (`_schema.violation`: the failing path and why)."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, RecursionError) as error:
        reason = error.msg if isinstance(error, json.JSONDecodeError) else "nested too deeply"
        raise LLMBadReply(f"structured output is not JSON: {reason}", provider=config.provider,
                          model=config.model or config.name) from None
    problem = violation(data, schema)
    if problem is not None:
        raise LLMBadReply(f"structured output does not match the schema {problem}", provider=config.provider,
                          model=config.model or config.name)
    return data


def _data(value: Any) -> Any:
    try:
        return plain(value)
    except StateError:
        return repr(value)[:2000]


def _position(form: Any, filename: str) -> Position:
    pos = getattr(form, "_pos", None) or (1, 1, 1, 1)
    return Position(filename, pos[0], pos[1], pos[2], pos[3])


__all__ = ["GRANT", "MAX_ROUNDS", "LLMRuntime", "make_provider", "request_key", "turn_data", "turn_from_data",
           "wait_cancellable"]
