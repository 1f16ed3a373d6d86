"""The guardian↔worker wire protocol: length-prefixed msgpack frames and typed messages.

The guardian exists to survive a misbehaving worker, so everything a worker sends is
treated as hostile input: a frame's length is checked before a byte of its body is
buffered, the body is structurally verified in C (``Unpacker.skip``) before msgpack is
allowed to pre-allocate containers, nesting depth and map keys are bounded, and every
field of every message is type-checked. Whatever goes wrong surfaces as a
`ProtocolError` (never MemoryError, RecursionError, UnicodeDecodeError, ...), so the
guardian has exactly one thing to catch before dropping the connection and restarting
the worker. Nothing in a frame is ever turned into code on the guardian's side.

Layers, bottom up (see ``docs/protocol.md``):

* framing: ``>I`` length + one msgpack map; `encode_frame`, `decode_body`, `FrameParser`
  (sans-IO: feed bytes, pop messages);
* messages: one frozen dataclass per ``type``, validated on construction and decode;
* transports: `FrameReader`/`FrameWriter` (blocking, on raw fds — the worker) and
  `AsyncFrameReader`/`AsyncFrameWriter` (asyncio streams — the guardian), plus
  `open_pipe` to wrap raw pipe fds for asyncio;
* handshake: `worker_handshake` (blocking) and `guardian_handshake` (async);
* `WorkerSpec`: what a worker is started with (JSON on its command line or in a zygote ``spawn``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import os
import select
import struct
import threading
import time
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, ClassVar, Literal, TypeVar

import msgpack

from o_lisp._limits import Limits
from o_lisp.guardian._errors import (
    ErrorCode,
    GuardianError,
)

PROTOCOL_VERSION = 2
"""Bumped on any incompatible change; the handshake refuses a mismatch."""

HEADER = struct.Struct(">I")
HEADER_SIZE = HEADER.size
MAX_FRAME_LIMIT = 2**32 - 1
"""The largest length a 4-byte header can express."""
DEFAULT_MAX_FRAME = 64 * 1024 * 1024
"""Big enough for a checkpoint of ~30 000 memory blocks with 384-d embeddings."""
DEFAULT_MAX_DEPTH = 100
"""Agent state is limited to 64 levels (`o_lisp.agent._state.check_data`) plus the envelope."""
READ_CHUNK = 1024 * 1024
"""Bodies are read at most this much at a time, so memory grows only with bytes received."""

WORKER: Literal["worker"] = "worker"
GUARDIAN: Literal["guardian"] = "guardian"
Side = Literal["worker", "guardian"]

U64_MAX = 2**64 - 1

# Well-known `Error.code` values (defined with the guardian's errors, `_errors`).


class BadRequest(Exception):
    """A request a worker refuses (unknown method, bad argument): answered as an `Error`
    frame with `code` (an ``E_*`` code) and `message`; the worker goes on serving."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ProtocolError(GuardianError):
    """A frame or message that violates the protocol; the connection cannot be trusted any more."""


class VersionMismatch(ProtocolError):
    """The two sides speak different protocol versions; the connection is closed."""

    def __init__(self, ours: int, theirs: int | None, detail: str = "") -> None:
        peer = "another version" if theirs is None else str(theirs)
        super().__init__(f"protocol version mismatch: this side speaks {ours}, the peer speaks {peer}{detail}")
        self.ours = ours
        self.theirs = theirs


# ---------------------------------------------------------------------------------------
# Field checkers
# ---------------------------------------------------------------------------------------

Checker = Callable[[str, Any], Any]
"""Validate (and possibly normalise) one field value; raise ProtocolError naming the field."""


def _fail(name: str, expected: str, value: Any) -> typing.NoReturn:
    raise ProtocolError(f"field {name!r} must be {expected}, not {type(value).__name__}")


def _check_u64(name: str, value: Any) -> int:
    # `type(...) is int` rejects bool (a msgpack true is not a sequence number).
    if type(value) is not int:
        _fail(name, "an unsigned 64-bit integer", value)
    if not 0 <= value <= U64_MAX:
        raise ProtocolError(f"field {name!r} must be an unsigned 64-bit integer, got {value}")
    return value


def _check_float(name: str, value: Any) -> float:
    if type(value) is float:
        return value
    if type(value) is int:  # a sender may write `1` for `1.0`; msgpack keeps the distinction
        return float(value)
    _fail(name, "a number", value)


def _check_str(name: str, value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, ErrorCode):  # an `Error.code` given as the enum member: the plain string goes on the wire
        return value.value
    _fail(name, "a string", value)


def _check_bool(name: str, value: Any) -> bool:
    if type(value) is not bool:
        _fail(name, "a boolean", value)
    return value


def _check_any(name: str, value: Any) -> Any:
    # Decoded frames were already verified by `_check_tree`; outgoing values are checked
    # by msgpack when packing. Nothing to do per field.
    return value


def _check_str_map(name: str, value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        _fail(name, "a map", value)
    for key in value:
        if type(key) is not str:
            raise ProtocolError(f"field {name!r} must be a map with string keys, found key {key!r}")
    return value


def _map_of(check_value: Checker, expected: str) -> Checker:
    def check(name: str, value: Any) -> dict[str, Any]:
        checked = _check_str_map(name, value)
        for key, item in checked.items():
            check_value(f"{name}.{key}", item)
        return checked

    check.__doc__ = expected
    return check


def _check_number(name: str, value: Any) -> int | float:
    if type(value) is int or type(value) is float:
        return value
    _fail(name, "a number", value)


def _optional(check: Checker) -> Checker:
    def check_optional(name: str, value: Any) -> Any:
        return None if value is None else check(name, value)

    return check_optional


def _list_of(check: Checker) -> Checker:
    def check_list(name: str, value: Any) -> list[Any]:
        if type(value) is not list:
            _fail(name, "an array", value)
        return [check(f"{name}[{i}]", item) for i, item in enumerate(value)]

    return check_list


def _checker_for(annotation: Any) -> Checker:
    """The checker for one dataclass field annotation (the protocol's whole type language)."""
    simple: dict[Any, Checker] = {
        int: _check_u64,
        float: _check_float,
        str: _check_str,
        bool: _check_bool,
        Any: _check_any,
        dict[str, Any]: _check_str_map,
        dict[str, str]: _map_of(_check_str, "strings"),
        dict[str, int | float]: _map_of(_check_number, "numbers"),
        list[str]: _list_of(_check_str),
    }
    if annotation in simple:
        return simple[annotation]
    if isinstance(annotation, types.UnionType) and type(None) in annotation.__args__:
        rest = [a for a in annotation.__args__ if a is not type(None)]
        if len(rest) == 1:
            return _optional(_checker_for(rest[0]))
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        if isinstance(item, type) and issubclass(item, WalRecord):
            return _list_of(_check_wal_record)
    raise TypeError(f"no protocol checker for annotation {annotation!r}")  # pragma: no cover


# ---------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------

_REGISTRY: dict[str, type[Message]] = {}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Base of every message: `id` is unique per sender and connection, increasing from 1.

    Subclasses declare `TYPE` (the wire ``type``) and `SENDER` (who may send it, so a
    worker cannot, say, acknowledge its own WAL append). Construction validates every
    field, so an invalid message cannot be built, sent or received.
    """

    TYPE: ClassVar[str] = ""
    SENDER: ClassVar[tuple[Side, ...]] = ()
    _CHECKS: ClassVar[tuple[tuple[str, Checker], ...]] = ()
    _FIELD_NAMES: ClassVar[tuple[str, ...]] = ()
    _REQUIRED: ClassVar[tuple[str, ...]] = ()
    _RECORD_FIELDS: ClassVar[frozenset[str]] = frozenset()
    _DEFAULTS: ClassVar[dict[str, Any]] = {}

    id: int

    def __post_init__(self) -> None:
        for name, check in self._CHECKS:
            value = getattr(self, name)
            checked = check(name, value)
            if checked is not value:
                object.__setattr__(self, name, checked)

    def encode(self) -> dict[str, Any]:
        """The message as a msgpack-able map with its ``type``."""
        out: dict[str, Any] = {"type": self.TYPE}
        records = self._RECORD_FIELDS
        for name in self._FIELD_NAMES:
            value = getattr(self, name)
            out[name] = [r.encode() for r in value] if records and name in records else value
        return out

    @classmethod
    def decode(cls, data: Any, sender: Side | None = None) -> Message:
        """Validate a decoded map and build the message it describes.

        `sender`, when given, is the side the map came from; a type that side may not
        send is rejected. Unknown fields are ignored (additions that old peers can skip
        do not need a version bump); unknown types are errors.
        """
        if type(data) is not dict:
            raise ProtocolError(f"a message must be a map, not {type(data).__name__}")
        kind = data.get("type")
        if type(kind) is not str:
            raise ProtocolError("a message needs a string field 'type'")
        message_class = _REGISTRY.get(kind)
        if message_class is None:
            raise ProtocolError(f"unknown message type {kind[:64]!r}")
        if cls is not Message and message_class is not cls:
            raise ProtocolError(f"expected a {cls.TYPE!r} message, got {kind!r}")
        if sender is not None and sender not in message_class.SENDER:
            raise ProtocolError(f"a {sender} may not send {kind!r} messages")
        for name in message_class._REQUIRED:
            if name not in data:
                raise ProtocolError(f"{kind!r} message is missing field {name!r}")
        kwargs = {name: data[name] for name in message_class._FIELD_NAMES if name in data}
        try:
            return message_class(**kwargs)
        except ProtocolError as error:
            raise ProtocolError(f"{kind!r} message: {error}") from None


M = TypeVar("M", bound=Message)


def _message(*, sender: tuple[Side, ...]) -> Callable[[type[M]], type[M]]:
    """Register a message class: derive its field checkers from the annotations."""

    def register(cls: type[M]) -> type[M]:
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(cls)
        # `_check_any` does nothing: leave those fields out of the loop run on every message.
        cls._CHECKS = tuple(
            (f.name, check) for f in fields if (check := _checker_for(hints[f.name])) is not _check_any
        )
        cls.SENDER = sender
        cls._FIELD_NAMES = tuple(f.name for f in fields)
        defaults: dict[str, Any] = {}
        for f in fields:
            if f.default is not dataclasses.MISSING:
                defaults[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                defaults[f.name] = f.default_factory()  # only ever encoded, never mutated
        cls._DEFAULTS = defaults
        cls._RECORD_FIELDS = frozenset(
            f.name for f in fields if typing.get_origin(hints[f.name]) is list and typing.get_args(hints[f.name]) == (WalRecord,)
        )
        cls._REQUIRED = tuple(
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )
        assert cls.TYPE and cls.TYPE not in _REGISTRY, cls
        _REGISTRY[cls.TYPE] = cls
        return cls

    return register


_BOTH: tuple[Side, ...] = (WORKER, GUARDIAN)
_FROM_WORKER: tuple[Side, ...] = (WORKER,)
_FROM_GUARDIAN: tuple[Side, ...] = (GUARDIAN,)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class WalRecord:
    """One logged mutation as the guardian replays it: `AgentState.apply(op, args)` at `seq`."""

    seq: int
    op: str
    args: dict[str, Any]

    def __post_init__(self) -> None:
        _check_u64("seq", self.seq)
        _check_str("op", self.op)
        _check_str_map("args", self.args)

    def encode(self) -> dict[str, Any]:
        return {"seq": self.seq, "op": self.op, "args": self.args}


def _check_wal_record(name: str, value: Any) -> WalRecord:
    if isinstance(value, WalRecord):
        return value
    if type(value) is not dict:
        _fail(name, "a WAL record map", value)
    for key in ("seq", "op", "args"):
        if key not in value:
            raise ProtocolError(f"field {name!r} is missing {key!r}")
    try:
        return WalRecord(seq=value["seq"], op=value["op"], args=value["args"])
    except ProtocolError as error:
        raise ProtocolError(f"field {name!r}: {error}") from None


# -- handshake ------------------------------------------------------------------------


@_message(sender=_FROM_WORKER)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Hello(Message):
    """First frame from a worker: who it is and which protocol it speaks."""

    TYPE: ClassVar[str] = "hello"
    protocol: int
    pid: int
    agent: str
    code_version: str


@_message(sender=_FROM_GUARDIAN)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Welcome(Message):
    """The guardian accepts a `Hello`; tells the worker the timing and size rules."""

    TYPE: ClassVar[str] = "welcome"
    re: int
    protocol: int
    heartbeat_interval: float
    max_frame: int


# -- liveness -------------------------------------------------------------------------


@_message(sender=_FROM_WORKER)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat(Message):
    """Sent by the worker every `heartbeat_interval` s; `busy` = id of the request in progress."""

    TYPE: ClassVar[str] = "heartbeat"
    time: float
    busy: int | None = None
    rss: int = 0


@_message(sender=_FROM_GUARDIAN)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Shutdown(Message):
    """Finish the current request, then exit 0 within `grace` seconds (or be killed)."""

    TYPE: ClassVar[str] = "shutdown"
    reason: str = ""
    grace: float = 5.0


# -- requests -------------------------------------------------------------------------


@_message(sender=_FROM_GUARDIAN)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Request(Message):
    """Work for the agent (a user message, a memory operation, ...): answered by `Reply` or `Error`."""

    TYPE: ClassVar[str] = "request"
    method: str
    args: dict[str, Any] = dataclasses.field(default_factory=dict)
    timeout: float | None = None


@_message(sender=_FROM_WORKER)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Reply(Message):
    """The successful answer to the `Request` whose id is `re`."""

    TYPE: ClassVar[str] = "reply"
    re: int
    result: Any = None


@_message(sender=_BOTH)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Error(Message):
    """A failed request (`re` = its id) or, with `re` None, a complaint about the connection."""

    TYPE: ClassVar[str] = "error"
    code: str
    message: str = ""
    re: int | None = None


# -- durability -----------------------------------------------------------------------


@_message(sender=_FROM_WORKER)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class WalAppend(Message):
    """Make this mutation durable; the worker applies it only after the matching `WalAck`.

    `seq` is the worker's expected sequence number (`AgentState.seq + 1`) when it
    knows it; the guardian assigns the authoritative one and returns it in the ack.
    """

    TYPE: ClassVar[str] = "wal_append"
    op: str
    args: dict[str, Any]
    seq: int | None = None


@_message(sender=_FROM_GUARDIAN)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class WalAck(Message):
    """The `WalAppend` with id `re`, and every earlier one not yet answered, is on disk.

    Cumulative (protocol 2): one ack answers a whole fsync batch, the appends of one
    worker being written in the order it sent them. `seq` is the record of `re`.
    """

    TYPE: ClassVar[str] = "wal_ack"
    re: int
    seq: int


@_message(sender=_FROM_GUARDIAN)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointRequest(Message):
    """The guardian wants a checkpoint now (interval, WAL size, before a risky operation)."""

    TYPE: ClassVar[str] = "checkpoint_request"
    reason: str = ""


@_message(sender=_FROM_WORKER)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint(Message):
    """The whole agent state (`AgentState.to_data()`), covering WAL records up to `wal_seq`.

    `re` is the id of the `CheckpointRequest` it answers, None if the worker took it
    on its own (e.g. before a self-modification).
    """

    TYPE: ClassVar[str] = "checkpoint"
    state: dict[str, Any]
    wal_seq: int
    re: int | None = None


@_message(sender=_FROM_GUARDIAN)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointAck(Message):
    """The `Checkpoint` with id `re` is durable in the vault as `checkpoint_id`."""

    TYPE: ClassVar[str] = "checkpoint_ack"
    re: int
    checkpoint_id: str
    wal_seq: int


@_message(sender=_FROM_GUARDIAN)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Restore(Message):
    """Rebuild the state: load `checkpoint` (None = fresh state), then apply `wal` in order.

    `mode`: ``"replace"`` (default) = restore and serve; ``"standby"`` = restore and load
    the code but do not serve or log until a ``"resume"`` (a warm standby); ``"resume"``
    = a standby applies `wal` on top of its state (`checkpoint` is ignored) and serves,
    or refuses with an error when the repository's code is no longer what it loaded.
    Any other mode is refused with an error (a newer guardian's idea).
    """

    TYPE: ClassVar[str] = "restore"
    checkpoint: dict[str, Any] | None
    wal: list[WalRecord] = dataclasses.field(default_factory=list)
    mode: str = "replace"


RESTORE_MODES = ("replace", "standby", "resume")

LLM_METRICS_FILE = "llm.prom"
"""The serving worker's model-call metrics, in the data directory: the guardian's `/metrics` adds them."""
"""The `Restore.mode` values a worker knows; it refuses any other with an error."""


@_message(sender=_FROM_WORKER)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RestoreAck(Message):
    """The `Restore` with id `re` is applied; the state now stands at `wal_seq`."""

    TYPE: ClassVar[str] = "restore_ack"
    re: int
    wal_seq: int


# -- code -----------------------------------------------------------------------------


@_message(sender=_FROM_GUARDIAN)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HotReload(Message):
    """Switch the worker to `code_version`.

    `definitions` maps definition names to o_lisp source; empty means "load
    `code_version` from the agent's repository" (the rollback path). The worker
    compiles it in its sandbox; the guardian only forwards text it got from git.
    """

    TYPE: ClassVar[str] = "hot_reload"
    code_version: str
    definitions: dict[str, str] = dataclasses.field(default_factory=dict)


@_message(sender=_FROM_WORKER)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HotReloadAck(Message):
    """The `HotReload` with id `re` succeeded; the worker now runs `code_version`."""

    TYPE: ClassVar[str] = "hot_reload_ack"
    re: int
    code_version: str


@_message(sender=_FROM_GUARDIAN)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Metrics(Message):
    """Ask the worker for its counters and gauges."""

    TYPE: ClassVar[str] = "metrics"


@_message(sender=_FROM_WORKER)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MetricsReply(Message):
    """Flat name → number map (e.g. ``requests_total``, ``rss_bytes``, ``memory_blocks``)."""

    TYPE: ClassVar[str] = "metrics_reply"
    re: int
    metrics: dict[str, int | float]


@_message(sender=_FROM_WORKER)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Token(Message):
    """A piece of a model's text while request `re` (a ``message`` with ``stream``) runs.

    Not held like answers: it is provisional (the reply, sent once durable, is what
    counts), and the guardian passes it on at once (docs/llm.md, "Streaming")."""

    TYPE: ClassVar[str] = "token"
    re: int
    text: str


MESSAGE_TYPES: dict[str, type[Message]] = dict(_REGISTRY)
"""Every message class by its wire ``type``."""


# ---------------------------------------------------------------------------------------
# Framing
# ---------------------------------------------------------------------------------------


def _check_max_frame(max_frame: int) -> int:
    if type(max_frame) is not int or not 1 <= max_frame <= MAX_FRAME_LIMIT:
        raise ValueError(f"max_frame must be between 1 and {MAX_FRAME_LIMIT}, got {max_frame!r}")
    return max_frame


def encode_frame(message: Message, max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    """Header + body for one message; refuses what the peer would refuse (too big, unpackable)."""
    return _frame(message.TYPE, message.encode(), max_frame)


def encode_frame_unchecked(message_class: type[Message], max_frame: int = DEFAULT_MAX_FRAME, **fields: Any) -> bytes:
    """The frame `encode_frame(message_class(**fields))` gives, without building the message.

    For the worker's hot path (a ``wal_append`` and a ``reply`` per mutating request),
    whose fields are valid by construction: ids from `FrameWriter.next_id`, an op
    and args that `AgentState.apply` has just checked. Omitted fields take their
    defaults; msgpack still refuses what it cannot encode, and the receiving side
    validates every frame as always.
    """
    out: dict[str, Any] = {"type": message_class.TYPE}
    defaults = message_class._DEFAULTS
    for name in message_class._FIELD_NAMES:
        out[name] = fields[name] if name in fields else defaults[name]
    return _frame(message_class.TYPE, out, max_frame)


def _frame(kind: str, data: dict[str, Any], max_frame: int) -> bytes:
    try:
        body: bytes = msgpack.packb(data, use_bin_type=True, datetime=False)
    except (TypeError, ValueError, OverflowError) as error:
        raise ProtocolError(f"cannot encode {kind!r} message: {error}") from None
    if len(body) > max_frame:
        raise ProtocolError(f"{kind!r} frame of {len(body)} bytes exceeds max_frame {max_frame}")
    return HEADER.pack(len(body)) + body


def check_length(length: int, max_frame: int) -> None:
    """Refuse a header before any of its body is read."""
    if length == 0:
        raise ProtocolError("zero-length frame")
    if length > max_frame:
        raise ProtocolError(f"frame of {length} bytes exceeds max_frame {max_frame}")


def _check_tree(value: Any, max_depth: int) -> None:
    """Bound nesting depth and restrict map keys to str/int, iteratively (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > max_depth:
            raise ProtocolError(f"frame nested deeper than {max_depth} levels")
        child = depth + 1
        if type(node) is dict:
            for key, item in node.items():
                kt = type(key)
                if kt is not str and kt is not int:
                    raise ProtocolError(f"map keys must be strings or integers, not {kt.__name__}")
                it = type(item)
                if it is dict or it is list:
                    push((item, child))
        else:
            for item in node:
                it = type(item)
                if it is dict or it is list:
                    push((item, child))


def decode_body(
    body: bytes | bytearray | memoryview,
    *,
    sender: Side | None = None,
    max_depth: int | None = DEFAULT_MAX_DEPTH,
) -> Message:
    """One frame body → one validated message, or ProtocolError.

    Order matters: the C skipper first proves that every element any container claims
    is really present (so the unpacker below never pre-allocates a list for 2^32
    claimed items), then the bounded unpack, then depth/key checks, then the fields.

    ``max_depth=None`` skips the depth/key walk (about 3 ms per MB of small objects):
    only for frames from the trusted side, i.e. a worker reading the guardian. msgpack's
    own 1024-level stack limit still applies.
    """
    size = len(body)
    if size == 0:
        raise ProtocolError("zero-length frame")
    try:
        skipper = msgpack.Unpacker(max_buffer_size=size)
        skipper.feed(body)
        skipper.skip()
        consumed = skipper.tell()
    except msgpack.OutOfData:
        raise ProtocolError("invalid msgpack: a value claims more data than the frame holds") from None
    except Exception as error:
        raise ProtocolError(f"invalid msgpack: {type(error).__name__} {error}") from None
    if consumed != size:
        raise ProtocolError(f"frame holds {size - consumed} bytes after its message")
    try:
        data = msgpack.unpackb(
            body,
            raw=False,
            strict_map_key=False,  # agent state allows int keys; `_check_tree` refuses the rest
            use_list=True,
            max_str_len=size,
            max_bin_len=size,
            max_array_len=size,
            max_map_len=size // 2,
            max_ext_len=0,  # no extension types (timestamps included) on this wire
        )
    except Exception as error:
        raise ProtocolError(f"invalid msgpack: {type(error).__name__} {error}") from None
    if type(data) is not dict:
        raise ProtocolError(f"a message must be a map, not {type(data).__name__}")
    if max_depth is not None:
        _check_tree(data, max_depth)
    return Message.decode(data, sender)


def decode_frame(
    frame: bytes | bytearray | memoryview,
    *,
    max_frame: int = DEFAULT_MAX_FRAME,
    sender: Side | None = None,
    max_depth: int | None = DEFAULT_MAX_DEPTH,
) -> Message:
    """Exactly one complete frame (header + body) → its message."""
    parser = FrameParser(max_frame=max_frame, sender=sender, max_depth=max_depth)
    parser.feed(frame)
    message = parser.next()
    if message is None:
        parser.feed_eof()  # raises "truncated frame" when part of a frame is there
        raise ProtocolError("no frame")
    if parser.buffered:
        raise ProtocolError(f"{parser.buffered} bytes after the frame")
    return message


class FrameParser:
    """Sans-IO frame splitter: `feed` bytes as they arrive, `next` pops whole messages.

    Call `next` after every `feed` (the readers do): it validates a header as soon as
    its 4 bytes are in, so an oversized or empty frame is refused before the reader
    asks for any of its body.
    """

    def __init__(
        self,
        *,
        max_frame: int = DEFAULT_MAX_FRAME,
        sender: Side | None = None,
        max_depth: int | None = DEFAULT_MAX_DEPTH,
    ) -> None:
        self.max_frame = _check_max_frame(max_frame)
        self.sender = sender
        self.max_depth = max_depth
        self._buf = bytearray()
        self._pos = 0
        self._length: int | None = None  # body length of the frame being assembled

    @property
    def buffered(self) -> int:
        """Bytes received but not yet consumed."""
        return len(self._buf) - self._pos

    def needed(self) -> int:
        """How many more bytes complete the current header or frame (at least 1)."""
        if self._length is None:
            return max(1, HEADER_SIZE - self.buffered)
        return max(1, HEADER_SIZE + self._length - self.buffered)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._pos and self._pos >= len(self._buf) // 2:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def _check_header(self) -> None:
        if self._length is None and self.buffered >= HEADER_SIZE:
            (length,) = HEADER.unpack_from(self._buf, self._pos)
            check_length(length, self.max_frame)
            self._length = length

    def next(self) -> Message | None:
        """The next complete message, None if more bytes are needed.

        Raises ProtocolError for a bad header as soon as its 4 bytes are buffered;
        frames before it are still delivered first.
        """
        self._check_header()
        length = self._length
        if length is None or self.buffered < HEADER_SIZE + length:
            return None
        start = self._pos + HEADER_SIZE
        end = start + length
        with memoryview(self._buf) as view:
            body = bytes(view[start:end])
        self._pos = end
        self._length = None
        return decode_body(body, sender=self.sender, max_depth=self.max_depth)

    def feed_eof(self) -> None:
        """The peer closed: fine between frames, a ProtocolError inside one."""
        if self.buffered:
            raise ProtocolError(f"truncated frame: connection closed with {self.buffered} bytes of a frame")


# ---------------------------------------------------------------------------------------
# Blocking transport (worker side)
# ---------------------------------------------------------------------------------------


class FrameReader:
    """Blocking reader of messages from a raw fd (a pipe end dedicated to frames).

    Reads in chunks of up to `READ_CHUNK` into a `FrameParser`, so many small frames
    cost one syscall and a huge claimed frame costs only the bytes really sent.
    `read(timeout=...)` lets a single-threaded worker interleave heartbeats.
    """

    def __init__(
        self,
        fd: int,
        *,
        max_frame: int = DEFAULT_MAX_FRAME,
        sender: Side | None = GUARDIAN,
        max_depth: int | None = DEFAULT_MAX_DEPTH,
    ) -> None:
        self.fd = fd
        self.parser = FrameParser(max_frame=max_frame, sender=sender, max_depth=max_depth)
        self._eof = False

    def read(self, timeout: float | None = None) -> Message | None:
        """The next message; None at a clean EOF; TimeoutError if none completes in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            message = self.parser.next()
            if message is not None:
                return message
            if self._eof:
                return None
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
                    raise TimeoutError("no complete frame within the timeout")
            chunk = os.read(self.fd, min(max(self.parser.needed(), 65536), READ_CHUNK))
            if not chunk:
                self._eof = True
                self.parser.feed_eof()
                return None
            self.parser.feed(chunk)

    def __iter__(self) -> Iterator[Message]:
        while (message := self.read()) is not None:
            yield message


class FrameWriter:
    """Blocking, thread-safe writer of messages to a raw fd.

    The lock keeps frames whole when, e.g., a heartbeat thread and the request loop
    write concurrently (pipe writes above PIPE_BUF are not atomic). `next_id()` hands
    out this side's message ids.
    """

    def __init__(self, fd: int, *, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.fd = fd
        self.max_frame = _check_max_frame(max_frame)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        return next(self._ids)

    def write(self, message: Message) -> None:
        frame = encode_frame(message, self.max_frame)
        with self._lock:
            _write_all(self.fd, frame)

    def write_many(self, messages: Iterable[Message]) -> None:
        """Several frames in one syscall (pipelining)."""
        self.write_raw(b"".join(encode_frame(m, self.max_frame) for m in messages))

    def write_raw(self, frames: bytes) -> None:
        """Bytes that are already whole frames (from `encode_frame`), in one go."""
        with self._lock:
            _write_all(self.fd, frames)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# ---------------------------------------------------------------------------------------
# asyncio transport (guardian side)
# ---------------------------------------------------------------------------------------


class AsyncFrameReader:
    """asyncio reader of messages from a `StreamReader` (see `open_pipe`).

    Reads whatever has arrived (up to `READ_CHUNK`) into a `FrameParser`: one await
    serves every frame already in the pipe, the header is checked as soon as it is in,
    and memory grows only with bytes received. EOF inside a frame is a ProtocolError.
    """

    def __init__(
        self,
        stream: asyncio.StreamReader,
        *,
        max_frame: int = DEFAULT_MAX_FRAME,
        sender: Side | None = WORKER,
        max_depth: int | None = DEFAULT_MAX_DEPTH,
        transport: asyncio.BaseTransport | None = None,
    ) -> None:
        self.stream = stream
        self.parser = FrameParser(max_frame=max_frame, sender=sender, max_depth=max_depth)
        self.transport = transport
        self._eof = False

    def close(self) -> None:
        """Stop reading and close the pipe (when the worker is being dropped)."""
        if self.transport is not None:
            self.transport.close()

    async def read(self) -> Message | None:
        """The next message; None at a clean EOF (the worker closed its end or died)."""
        parser = self.parser
        while True:
            message = parser.next()
            if message is not None:
                return message
            if self._eof:
                return None
            chunk = await self.stream.read(min(max(parser.needed(), 65536), READ_CHUNK))
            if not chunk:
                self._eof = True
                parser.feed_eof()
                return None
            parser.feed(chunk)

    def __aiter__(self) -> AsyncFrameReader:
        return self

    async def __anext__(self) -> Message:
        message = await self.read()
        if message is None:
            raise StopAsyncIteration
        return message


class AsyncFrameWriter:
    """asyncio writer of messages to a `StreamWriter`; `write` waits for the pipe to drain.

    `write_nowait` hands each frame to the transport at once (which writes it at once
    when nothing is waiting): the worker can start on a request while the guardian is
    still sending the next ones. Queuing a loop turn's frames into one write saves
    syscalls but makes a burst arrive, and be answered, as a convoy; measured slower
    (see docs/decisions.md).
    """

    CONGESTED = 1 << 18
    """Bytes waiting in the transport above which a caller should `drain`."""

    def __init__(self, stream: asyncio.StreamWriter, *, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.stream = stream
        self.max_frame = _check_max_frame(max_frame)
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        return next(self._ids)

    def write_nowait(self, message: Message) -> None:
        """Queue a frame without waiting (call `drain` later); frames stay whole."""
        self._write(encode_frame(message, self.max_frame))

    def write_many_nowait(self, messages: Iterable[Message]) -> None:
        """Several frames queued in one write (e.g. the acks of one WAL batch)."""
        self._write(b"".join(encode_frame(m, self.max_frame) for m in messages))

    def _write(self, data: bytes) -> None:
        """ConnectionResetError when the pipe is closed, whichever event loop runs this
        (asyncio drops the bytes with a warning, uvloop raises RuntimeError)."""
        if self.stream.transport.is_closing():
            raise ConnectionResetError("the frame pipe is closed")
        try:
            self.stream.write(data)
        except RuntimeError as error:
            raise ConnectionResetError(f"the frame pipe is closed: {error}") from None

    @property
    def congested(self) -> bool:
        """More than `CONGESTED` bytes wait in the transport: time to `drain`."""
        return self.stream.transport.get_write_buffer_size() > self.CONGESTED

    async def drain(self) -> None:
        await self.stream.drain()

    async def write(self, message: Message) -> None:
        self.write_nowait(message)
        await self.stream.drain()

    def close(self) -> None:
        self.stream.close()


def _drop_unattached(*files: BinaryIO) -> None:
    """Close pipe files a transport never took over, now rather than at garbage collection.

    A connect that fails or is cancelled (a shadow's start abandoned by its cycle) leaves
    its file object open; left to the collector it closes its descriptor number at some
    later moment, when that number may belong to another file, and warns. uvloop may
    already have closed the descriptor itself, hence the ignored OSError."""
    for file in files:
        with contextlib.suppress(OSError):
            file.close()


async def open_pipe(
    read_fd: int,
    write_fd: int,
    *,
    max_frame: int = DEFAULT_MAX_FRAME,
    sender: Side | None = WORKER,
    max_depth: int | None = DEFAULT_MAX_DEPTH,
) -> tuple[AsyncFrameReader, AsyncFrameWriter]:
    """Wrap the guardian's ends of the two frame pipes for asyncio (takes ownership of the fds)."""
    loop = asyncio.get_running_loop()
    stream = asyncio.StreamReader(limit=2**16, loop=loop)
    read_file = os.fdopen(read_fd, "rb", buffering=0)
    write_file = os.fdopen(write_fd, "wb", buffering=0)
    try:
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stream, loop=loop), read_file
        )
    except BaseException:
        _drop_unattached(read_file, write_file)
        raise
    try:
        transport, protocol = await loop.connect_write_pipe(
            lambda: asyncio.streams.FlowControlMixin(loop=loop), write_file
        )
    except BaseException:
        read_transport.close()
        _drop_unattached(write_file)
        raise
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    reader = AsyncFrameReader(
        stream, max_frame=max_frame, sender=sender, max_depth=max_depth, transport=read_transport
    )
    return reader, AsyncFrameWriter(writer, max_frame=max_frame)


# ---------------------------------------------------------------------------------------
# Handshake
# ---------------------------------------------------------------------------------------


def worker_handshake(
    reader: FrameReader,
    writer: FrameWriter,
    *,
    agent: str,
    code_version: str,
    timeout: float = 10.0,
    protocol: int = PROTOCOL_VERSION,
) -> Welcome:
    """Send `Hello`, wait for `Welcome`; VersionMismatch if the guardian refused our version."""
    hello = Hello(id=writer.next_id(), protocol=protocol, pid=os.getpid(), agent=agent, code_version=code_version)
    writer.write(hello)
    answer = reader.read(timeout=timeout)
    if answer is None:
        raise ProtocolError("the guardian closed the connection during the handshake")
    if isinstance(answer, Error) and answer.code == ErrorCode.VERSION_MISMATCH:
        raise VersionMismatch(protocol, None, f" (guardian: {answer.message})")
    if not isinstance(answer, Welcome) or answer.re != hello.id:
        raise ProtocolError(f"expected 'welcome' answering {hello.id}, got {answer.TYPE!r}")
    if answer.protocol != protocol:
        raise VersionMismatch(protocol, answer.protocol)
    return answer


async def guardian_handshake(
    reader: AsyncFrameReader,
    writer: AsyncFrameWriter,
    *,
    heartbeat_interval: float = 1.0,
    timeout: float = 10.0,
    protocol: int = PROTOCOL_VERSION,
) -> Hello:
    """Wait for the worker's `Hello` and answer `Welcome`.

    On a version mismatch an `Error` with code ``version_mismatch`` is sent, the writer
    closed, and VersionMismatch raised: the caller must not keep talking to this worker.
    """
    try:
        first = await asyncio.wait_for(reader.read(), timeout)
    except TimeoutError:
        raise ProtocolError(f"no hello from the worker within {timeout} s") from None
    if first is None:
        raise ProtocolError("the worker closed the connection before its hello")
    if not isinstance(first, Hello):
        raise ProtocolError(f"expected 'hello' as the first message, got {first.TYPE!r}")
    if first.protocol != protocol:
        error = VersionMismatch(protocol, first.protocol)
        try:
            await writer.write(Error(id=writer.next_id(), re=first.id, code=ErrorCode.VERSION_MISMATCH, message=str(error)))
        except (OSError, ConnectionError):  # pragma: no cover - the worker may be gone already
            pass
        writer.close()
        raise error
    await writer.write(
        Welcome(
            id=writer.next_id(),
            re=first.id,
            protocol=protocol,
            heartbeat_interval=heartbeat_interval,
            max_frame=writer.max_frame,
        )
    )
    return first


@dataclasses.dataclass(frozen=True, slots=True)
class CodeVersion:
    """The code a worker runs: the agent's semantic version and the commit it was read at.

    Written ``SEMVER+COMMIT`` (`str`) wherever it travels or is shown: the ``hello``
    frame, evolution replies, ``/health``, logs. An unknown one is ``""`` (both empty).
    """

    version: str
    commit: str

    def __str__(self) -> str:
        return f"{self.version}+{self.commit}"

    @classmethod
    def parse(cls, text: str) -> CodeVersion:
        """``SEMVER+COMMIT``; text without ``+`` is a version with no commit."""
        version, _, commit = text.partition("+")
        return cls(version, commit)


# ---------------------------------------------------------------------------------------
# What a worker is started with
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What a worker needs to know besides its fds; travels as JSON on its command line
    or in the zygote's ``spawn`` command (never as code)."""

    agent: str
    """The agent's seed file (``agents/NAME.hy``)."""
    data_dir: str
    debug_methods: bool = False
    """Enable ``debug_*`` requests (sleep, hang, exit) for the supervision tests."""
    rollback_to: str | None = None
    """Escalation: roll the repository back to this commit before loading."""
    rollback_reason: str = ""
    pipelined: bool = True
    """Apply a mutation as soon as its ``wal_append`` is sent (the guardian holds the replies
    until it is durable); False: wait for the ack first (strict)."""
    standby: bool = False
    """Main role, started to be the warm standby: it opens the repository read-only (the
    serving worker may be committing meanwhile) and imports no seed edits."""
    role: str = "main"
    """``main`` (serves clients, logs to the guardian's WAL, owns git writes) or ``shadow``
    (an evolution trial: never writes git, logs mutations to a scratch WAL, runs under
    process limits; see `o_lisp.worker._lab`)."""
    candidate_name: str | None = None
    """Shadow only: the definition the candidate replaces (None = a baseline shadow)."""
    candidate_source: str | None = None
    scratch_dir: str | None = None
    """Shadow only: where its mutations are logged (deleted by the guardian afterwards)."""
    cpu_seconds: int | None = None
    """Shadow only: RLIMIT_CPU (SIGXCPU at the soft limit, SIGKILL one second later)."""
    nice: int = 0
    """Shadow only: how much lower than the guardian's its CPU priority is (a population's
    breeder and evaluators: live requests first). Set before the worker loads anything,
    so every thread it starts inherits it."""
    address_space: int | None = None
    """RLIMIT_AS headroom in bytes above the address space the worker starts with
    (allocations beyond it fail); every role (`GuardianConfig.worker_address_space` for the
    main worker and the standby, the evolution config for shadows). Must leave room for an
    evaluation thread's stack, which is sized from the step budget (up to 1 GiB)."""
    tools: tuple[str, ...] = ()
    """Main role: trusted host tools files (`o-lisp serve --tools`), loaded by the worker,
    never by the guardian (`o_lisp.agent._host_tools`). Shadows get none: a shadow's side
    effects must never leave it."""
    grants: tuple[str, ...] = ()
    """Capabilities granted to the agent (`o-lisp serve --grant`)."""
    limits: tuple[tuple[str, Any], ...] = ()
    """Main role: the agent's `Limits` as (field, value) pairs (`[limits]` of o-lisp.toml
    under `o-lisp serve`); empty: the defaults. See `limit_pairs`."""
    llm: str = ""
    """The operator's `[llm]` settings as JSON (`o_lisp.llm.LLMSettings.to_json`); empty: none."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a worker spec must be a JSON object")

        def optional(key: str, kind: type) -> Any:
            value = data.get(key)
            return None if value is None else kind(value)

        role = str(data.get("role", "main"))
        if role not in ("main", "shadow"):
            raise ValueError(f"unknown worker role {role!r}")
        return cls(
            agent=str(data["agent"]),
            data_dir=str(data["data_dir"]),
            debug_methods=bool(data.get("debug_methods", False)),
            rollback_to=optional("rollback_to", str),
            rollback_reason=str(data.get("rollback_reason", "")),
            pipelined=bool(data.get("pipelined", True)),
            standby=bool(data.get("standby", False)),
            role=role,
            candidate_name=optional("candidate_name", str),
            candidate_source=optional("candidate_source", str),
            scratch_dir=optional("scratch_dir", str),
            cpu_seconds=optional("cpu_seconds", int),
            nice=max(0, min(19, int(data.get("nice", 0)))),
            address_space=optional("address_space", int),
            tools=_strings(data.get("tools", ()), "tools"),
            grants=_strings(data.get("grants", ()), "grants"),
            limits=_limit_pairs(data.get("limits", ())),
            llm=str(data.get("llm", "")),
        )

    @property
    def shadow(self) -> bool:
        return self.role == "shadow"


def limit_pairs(limits: Any) -> tuple[tuple[str, Any], ...]:
    """`Limits` (or None: the defaults) as `WorkerSpec.limits`."""
    return () if limits is None else tuple(dataclasses.asdict(limits).items())


def _limit_pairs(value: Any) -> tuple[tuple[str, Any], ...]:
    try:
        pairs = tuple((str(name), setting) for name, setting in value)
        if pairs:
            Limits(**dict(pairs))  # checked here: a bad spec fails before anything starts
    except (TypeError, ValueError) as problem:
        raise ValueError(f"worker spec limits are not valid Limits: {problem}") from None
    return pairs


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"worker spec {key} must be a list of strings")
    return tuple(value)


__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_FRAME",
    "GUARDIAN",
    "HEADER_SIZE",
    "MESSAGE_TYPES",
    "PROTOCOL_VERSION",
    "WORKER",
    "AsyncFrameReader",
    "AsyncFrameWriter",
    "BadRequest",
    "Checkpoint",
    "CheckpointAck",
    "CheckpointRequest",
    "CodeVersion",
    "Error",
    "ErrorCode",
    "FrameParser",
    "FrameReader",
    "FrameWriter",
    "Heartbeat",
    "Hello",
    "HotReload",
    "HotReloadAck",
    "Message",
    "Metrics",
    "MetricsReply",
    "ProtocolError",
    "Reply",
    "Request",
    "Restore",
    "RestoreAck",
    "Shutdown",
    "Token",
    "VersionMismatch",
    "WalAck",
    "WalAppend",
    "WalRecord",
    "Welcome",
    "WorkerSpec",
    "check_length",
    "decode_body",
    "decode_frame",
    "encode_frame",
    "encode_frame_unchecked",
    "guardian_handshake",
    "limit_pairs",
    "open_pipe",
    "worker_handshake",
]
