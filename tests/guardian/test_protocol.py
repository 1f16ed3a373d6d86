"""The guardian↔worker wire protocol: round trips, hostile input, real pipes.

The guardian must survive anything a worker writes, so most of this file throws
malformed frames at the decoder and insists on exactly one outcome: a ProtocolError,
raised before any large allocation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import threading
import time
import tracemalloc
import typing
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from o_lisp._errors import OLispError
from o_lisp.guardian import _protocol as P
from o_lisp.guardian._protocol import (
    GUARDIAN,
    MESSAGE_TYPES,
    WORKER,
    AsyncFrameReader,
    Checkpoint,
    Error,
    FrameParser,
    FrameReader,
    FrameWriter,
    Heartbeat,
    Hello,
    Message,
    Metrics,
    ProtocolError,
    Reply,
    Request,
    Restore,
    Shutdown,
    VersionMismatch,
    WalAppend,
    WalRecord,
    Welcome,
    decode_body,
    decode_frame,
    encode_frame,
)

ROOT = Path(__file__).resolve().parents[2]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def frame_of(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def only_protocol_errors(data: bytes, **kwargs: Any) -> list[Message]:
    """Feed a byte stream to a parser; anything but ProtocolError escapes and fails the test."""
    parser = FrameParser(**kwargs)
    out: list[Message] = []
    try:
        parser.feed(data)
        while (message := parser.next()) is not None:
            out.append(message)
        parser.feed_eof()
    except ProtocolError:
        pass
    return out


# -- strategies ----------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
keys = st.text(max_size=8) | st.integers(-(2**63), 2**64 - 1)
data = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=15,
)
u64 = st.integers(0, 2**64 - 1)
str_maps = st.dictionaries(st.text(max_size=8), data, max_size=4)
records = st.builds(WalRecord, seq=u64, op=st.text(max_size=10), args=str_maps)


def strategy_for(annotation: Any) -> st.SearchStrategy[Any]:
    table: dict[Any, st.SearchStrategy[Any]] = {
        int: u64,
        float: st.floats(allow_nan=False),
        str: st.text(max_size=30),
        bool: st.booleans(),
        Any: data,
        dict[str, Any]: str_maps,
        dict[str, str]: st.dictionaries(st.text(max_size=8), st.text(max_size=30), max_size=4),
        dict[str, int | float]: st.dictionaries(
            st.text(max_size=8), st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False), max_size=4
        ),
        list[WalRecord]: st.lists(records, max_size=4),
    }
    if annotation in table:
        return table[annotation]
    args = typing.get_args(annotation)
    assert type(None) in args, annotation
    (inner,) = [a for a in args if a is not type(None)]
    return st.none() | strategy_for(inner)


def messages_of(cls: type[Message]) -> st.SearchStrategy[Message]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: strategy_for(hints[f.name]) for f in dataclasses.fields(cls)}
    return st.builds(cls, **fields)


any_message = st.one_of([messages_of(cls) for cls in MESSAGE_TYPES.values()])


def example(cls: type[Message]) -> Message:
    """A fixed valid instance of each message type, with every field filled."""
    hints = typing.get_type_hints(cls)
    values: dict[Any, Any] = {
        int: 7,
        float: 1.5,
        str: "text",
        Any: {"k": [1, "v"]},
        dict[str, Any]: {"k": [1, "v"]},
        dict[str, str]: {"defn": "(defn f [] 1)"},
        dict[str, int | float]: {"requests": 3, "rss": 1.5},
        list[WalRecord]: [WalRecord(seq=1, op="append_message", args={"text": "hi"})],
        int | None: 9,
        float | None: 2.5,
        dict[str, Any] | None: {"format": 1},
    }
    return cls(**{f.name: values[hints[f.name]] for f in dataclasses.fields(cls)})


# -- round trips ---------------------------------------------------------------------------


def test_every_message_type_is_covered() -> None:
    assert set(MESSAGE_TYPES) == {
        "hello", "welcome", "heartbeat", "shutdown", "request", "reply", "error",
        "wal_append", "wal_ack", "checkpoint_request", "checkpoint", "checkpoint_ack",
        "restore", "restore_ack", "hot_reload", "hot_reload_ack", "metrics", "metrics_reply", "token",
    }  # fmt: skip
    for cls in MESSAGE_TYPES.values():
        assert cls.SENDER, cls


@pytest.mark.parametrize("kind", sorted(MESSAGE_TYPES))
def test_example_round_trip_and_sender_rules(kind: str) -> None:
    cls = MESSAGE_TYPES[kind]
    message = example(cls)
    frame = encode_frame(message)
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert decode_frame(frame) == message
    for side in (WORKER, GUARDIAN):
        if side in cls.SENDER:
            assert decode_frame(frame, sender=side) == message
        else:
            with pytest.raises(ProtocolError, match=f"a {side} may not send {kind!r}"):
                decode_frame(frame, sender=side)


@FAST
@given(any_message)
def test_round_trip_hypothesis(message: Message) -> None:
    assert decode_frame(encode_frame(message)) == message


@FAST
@given(st.lists(any_message, min_size=1, max_size=6), st.integers(1, 64))
def test_parser_reassembles_frames_split_anywhere(messages: list[Message], step: int) -> None:
    stream = b"".join(encode_frame(m) for m in messages)
    parser = FrameParser()
    out: list[Message] = []
    for i in range(0, len(stream), step):
        parser.feed(stream[i : i + step])
        while (m := parser.next()) is not None:
            out.append(m)
    parser.feed_eof()
    assert out == messages


def test_float_fields_accept_integers_and_unknown_fields_are_ignored() -> None:
    body = msgpack.packb({"type": "heartbeat", "id": 1, "time": 3, "future_field": [1, 2]})
    message = decode_body(body)
    assert message == Heartbeat(id=1, time=3.0)
    assert isinstance(message, Heartbeat) and type(message.time) is float


def test_errors_are_olisp_errors() -> None:
    assert issubclass(ProtocolError, OLispError)
    assert issubclass(VersionMismatch, ProtocolError)


# -- field validation ----------------------------------------------------------------------

WRONG: dict[Any, list[Any]] = {
    int: ["1", 1.5, True, -1, b"\x01", [], None],
    float: ["1.0", True, [], None],
    str: [1, b"text", [], None],
    dict[str, Any]: [[], "map", 1, {1: "int key"}, None],
    dict[str, str]: [[], {"name": 1}, {"name": None}],
    dict[str, int | float]: [[], {"n": "1"}, {"n": True}, {"n": None}],
    list[WalRecord]: ["wal", [{"seq": 1, "op": "x"}], [{"seq": "1", "op": "x", "args": {}}], [[1, "x", {}]]],
    int | None: ["1", 1.5, True, -1],
    float | None: ["1", True],
    dict[str, Any] | None: [[], "state"],
}


def wrong_field_cases() -> list[tuple[str, str, Any]]:
    cases = []
    for kind, cls in sorted(MESSAGE_TYPES.items()):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            for value in WRONG.get(hints[f.name], []):
                cases.append((kind, f.name, value))
    return cases


@pytest.mark.parametrize(("kind", "field", "value"), wrong_field_cases())
def test_wrong_field_type_is_rejected_naming_the_field(kind: str, field: str, value: Any) -> None:
    encoded = example(MESSAGE_TYPES[kind]).encode()
    encoded[field] = value
    body = msgpack.packb(encoded, strict_types=False)
    with pytest.raises(ProtocolError, match=f"field '{field}"):
        decode_body(body)
    with pytest.raises(ProtocolError, match=f"field '{field}"):
        MESSAGE_TYPES[kind](**{**dataclasses.asdict(example(MESSAGE_TYPES[kind])), field: value})


def test_missing_required_fields_and_bad_envelopes() -> None:
    for kind, cls in MESSAGE_TYPES.items():
        for name in cls._REQUIRED:
            encoded = example(cls).encode()
            del encoded[name]
            with pytest.raises(ProtocolError, match=f"missing field {name!r}"):
                decode_body(msgpack.packb(encoded))
        assert kind
    with pytest.raises(ProtocolError, match="unknown message type 'launch_missiles'"):
        decode_body(msgpack.packb({"type": "launch_missiles", "id": 1}))
    with pytest.raises(ProtocolError, match="'type'"):
        decode_body(msgpack.packb({"id": 1}))
    with pytest.raises(ProtocolError, match="'type'"):
        decode_body(msgpack.packb({"type": 5, "id": 1}))
    for top in ([1, 2], 1, "request", None, b"x"):
        with pytest.raises(ProtocolError, match="must be a map"):
            decode_body(msgpack.packb(top))


def test_sending_side_refuses_what_the_receiver_would_refuse() -> None:
    with pytest.raises(ProtocolError, match="'id'"):
        Request(id=-1, method="m")
    with pytest.raises(ProtocolError, match="cannot encode"):
        encode_frame(Request(id=1, method="m", args={"x": object()}))
    with pytest.raises(ProtocolError, match="exceeds max_frame"):
        encode_frame(Request(id=1, method="m", args={"x": b"\0" * 100}), max_frame=50)
    with pytest.raises(ValueError, match="max_frame"):
        FrameParser(max_frame=0)


# -- hostile frames ------------------------------------------------------------------------


def feed_and_next(parser: FrameParser, data: bytes) -> Message | None:
    parser.feed(data)
    return parser.next()


def test_zero_length_frame() -> None:
    with pytest.raises(ProtocolError, match="zero-length"):
        feed_and_next(FrameParser(), b"\0\0\0\0")
    with pytest.raises(ProtocolError, match="zero-length"):
        decode_body(b"")


def test_oversized_frame_is_refused_on_the_header_alone() -> None:
    assert feed_and_next(FrameParser(max_frame=1000), (1000).to_bytes(4, "big")) is None  # the limit is fine
    with pytest.raises(ProtocolError, match="exceeds max_frame 1000"):
        feed_and_next(FrameParser(max_frame=1000), (1001).to_bytes(4, "big"))
    with pytest.raises(ProtocolError, match="exceeds max_frame"):
        feed_and_next(FrameParser(), b"\xff\xff\xff\xff")
    # a good frame before a bad header is still delivered, then the error
    parser = FrameParser()
    assert feed_and_next(parser, encode_frame(Metrics(id=1)) + b"\xff\xff\xff\xff") == Metrics(id=1)
    with pytest.raises(ProtocolError, match="exceeds max_frame"):
        parser.next()


def test_oversized_frame_over_a_pipe_does_not_wait_for_the_body() -> None:
    r, w = os.pipe()
    try:
        os.write(w, b"\xff\xff\xff\xff")  # the writer stays open: a blocking read would hang
        start = time.monotonic()
        with pytest.raises(ProtocolError, match="exceeds max_frame"):
            FrameReader(r).read(timeout=5)
        assert time.monotonic() - start < 1
    finally:
        os.close(r)
        os.close(w)


VALID = encode_frame(
    Request(id=42, method="memory.add", args={"text": "héllo", "metadata": {"tags": ["a"]}, "importance": 0.5})
)


@pytest.mark.parametrize("cut", range(len(VALID)))
def test_truncated_frame_at_every_offset(cut: int) -> None:
    parser = FrameParser()
    parser.feed(VALID[:cut])
    assert parser.next() is None
    if cut == 0:
        parser.feed_eof()  # EOF between frames is a clean close
        return
    with pytest.raises(ProtocolError, match="truncated frame"):
        parser.feed_eof()
    # the same over a real pipe, and through the asyncio reader
    r, w = os.pipe()
    os.write(w, VALID[:cut])
    os.close(w)
    with pytest.raises(ProtocolError, match="truncated frame"):
        FrameReader(r, sender=None).read(timeout=5)
    os.close(r)

    async def read_async() -> None:
        stream = asyncio.StreamReader()
        stream.feed_data(VALID[:cut])
        stream.feed_eof()
        await AsyncFrameReader(stream, sender=None).read()

    with pytest.raises(ProtocolError, match="truncated frame"):
        asyncio.run(read_async())


def nested(n: int, opener: bytes = b"\x91") -> bytes:
    """{"type": "request", "id": 1, "method": "m", "args": {"x": [[[...nil...]]]}} with n arrays."""
    head: bytes = msgpack.packb({"type": "request", "id": 1, "method": "m"})
    return bytes([head[0] + 1]) + head[1:] + b"\xa4args" + b"\x81\xa1x" + opener * n + b"\xc0"


INVALID_BODIES = {
    "never-used byte": b"\xc1",
    "map missing its entries": b"\x81",
    "map claiming 2^32-1 entries": b"\xdf\xff\xff\xff\xff",
    "map claiming 2^32-1 entries with data": b"\xdf\xff\xff\xff\xff" + b"\x00" * 4096,
    "array claiming 2^32-1 items": b"\xdd\xff\xff\xff\xff" + b"\x00" * 4096,
    "str claiming 4 GiB": b"\xdb\xff\xff\xff\xff" + b"x" * 100,
    "bin claiming 4 GiB": b"\xc6\xff\xff\xff\xff" + b"x" * 100,
    "ext type": b"\x81\xa4type\xc7\x01\x05x",
    "timestamp ext": b"\x81\xa4type\xd6\xff\x00\x00\x00\x01",
    "invalid utf-8": b"\x81\xa4type\xa2\xff\xfe",
    "two objects": b"\x80\x80",
    "trailing byte": msgpack.packb({"type": "metrics", "id": 1}) + b"\x00",
    "bytes map key": b"\x82\xa4type\xa7metrics\xc4\x01k\x01",
    "float map key": b"\x82\xa4type\xa7metrics\xcb" + b"\x00" * 8 + b"\x01",
    "nil map key": b"\x82\xa4type\xa7metrics\xc0\x01",
    "array map key": b"\x82\xa4type\xa7metrics\x91\x01\x01",
    "nested too deep (101)": nested(101),
    "nested maps too deep": nested(200, b"\x81\xa1k"),
    "nested past msgpack's stack (1025)": nested(1025),
    "nested 100 000": nested(100_000),
}


@pytest.mark.parametrize("name", sorted(INVALID_BODIES))
def test_invalid_bodies_raise_protocol_error_only(name: str) -> None:
    body = INVALID_BODIES[name]
    with pytest.raises(ProtocolError):
        decode_body(body)
    with pytest.raises(ProtocolError):
        decode_frame(frame_of(body))


def test_nesting_within_the_limit_is_accepted() -> None:
    message = decode_body(nested(98))  # message map, args map, then 98 arrays: depth 100
    assert isinstance(message, Request)
    with pytest.raises(ProtocolError, match="nested deeper than 100"):
        decode_body(nested(99))
    assert isinstance(decode_body(nested(500), max_depth=None), Request)  # trusted side


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bodies(body: bytes) -> None:
    try:
        message = decode_body(body)
    except ProtocolError:
        return
    assert isinstance(message, Message)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_streams(stream: bytes) -> None:
    only_protocol_errors(stream)
    only_protocol_errors(stream, max_frame=16)


@settings(max_examples=400, deadline=None)
@given(any_message, st.data())
def test_mutated_frames(message: Message, draw: st.DataObject) -> None:
    frame = bytearray(encode_frame(message))
    for _ in range(draw.draw(st.integers(1, 4))):
        i = draw.draw(st.integers(0, len(frame) - 1))
        frame[i] = draw.draw(st.integers(0, 255))
    for m in only_protocol_errors(bytes(frame)):
        assert type(m) in MESSAGE_TYPES.values()


def peak_bytes(fn: typing.Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def expect_protocol_error(fn: typing.Callable[[], object]) -> typing.Callable[[], None]:
    def run() -> None:
        with pytest.raises(ProtocolError):
            fn()

    return run


def test_claimed_4_gib_allocates_nothing_like_it() -> None:
    # Refused on the header.
    peak = peak_bytes(expect_protocol_error(lambda: feed_and_next(FrameParser(), b"\xff\xff\xff\xff" + b"\0" * 100)))
    assert peak < 64 * 1024
    # Allowed by a huge max_frame, but only 2 MiB really arrive: memory follows the bytes
    # received, not the length claimed.
    r, w = os.pipe()

    def send() -> None:
        os.write(w, b"\xff\xff\xff\xff")
        for _ in range(32):
            os.write(w, b"\x00" * 65536)
        os.close(w)

    sender = threading.Thread(target=send)
    sender.start()
    reader = FrameReader(r, max_frame=P.MAX_FRAME_LIMIT)
    try:
        peak = peak_bytes(expect_protocol_error(lambda: reader.read(timeout=10)))
    finally:
        sender.join()
        os.close(r)
    assert peak < 12 * 1024 * 1024, peak


def test_container_claims_cannot_amplify_memory() -> None:
    # 1000 nested arrays each claiming 60 000 items: a plain msgpack.unpackb pre-allocates
    # ~480 MB of list slots before noticing the data is missing.
    body = b"\xdd" + (60_000).to_bytes(4, "big")
    body = body * 1000 + b"\x00" * 60_000
    peak = peak_bytes(expect_protocol_error(lambda: decode_body(body)))
    assert peak < 4 * len(body), peak
    map_claim = b"\xdf\xff\xff\xff\xff" + b"\x00" * 100_000
    peak = peak_bytes(expect_protocol_error(lambda: decode_body(map_claim)))
    assert peak < 4 * len(map_claim), peak


# -- writers, correlation, pipes -----------------------------------------------------------


def test_concurrent_writers_keep_frames_whole() -> None:
    r, w = os.pipe()
    writer = FrameWriter(w)
    big = b"\xab" * 200_000  # larger than the pipe buffer: writes are split
    received: list[Message] = []

    def read_all() -> None:
        received.extend(FrameReader(r, sender=None))

    reader = threading.Thread(target=read_all)
    reader.start()

    def write(thread: int) -> None:
        for i in range(50):
            writer.write(Reply(id=thread * 1000 + i, re=i, result=big if i % 10 == 0 else thread))

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    os.close(w)
    reader.join()
    os.close(r)
    assert len(received) == 200
    for m in received:
        assert isinstance(m, Reply)
        assert m.result == (big if m.re % 10 == 0 else m.id // 1000)
    assert writer.next_id() == 1 and writer.next_id() == 2


def test_reader_timeout_keeps_partial_frame() -> None:
    r, w = os.pipe()
    try:
        frame = encode_frame(Heartbeat(id=1, time=1.0))
        os.write(w, frame[:5])
        reader = FrameReader(r, sender=WORKER)
        with pytest.raises(TimeoutError):
            reader.read(timeout=0.05)
        os.write(w, frame[5:])
        assert reader.read(timeout=5) == Heartbeat(id=1, time=1.0)
    finally:
        os.close(r)
        os.close(w)


WORKER_SCRIPT = r"""
import os, sys
from o_lisp.guardian._protocol import *

rfd, wfd, protocol = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
reader, writer = FrameReader(rfd), FrameWriter(wfd)
try:
    welcome = worker_handshake(reader, writer, agent="echo", code_version="v1", protocol=protocol)
except VersionMismatch as error:
    print("REFUSED", error, flush=True)
    sys.exit(3)
writer.write(Heartbeat(id=writer.next_id(), time=1.0))
for message in reader:
    # Stray output, including bytes that look like a frame, must not reach the frame pipe.
    sys.stdout.buffer.write(b"\x00\x00\x00\x05garbage " + os.urandom(64) + b"\n")
    sys.stdout.flush()
    print("noise on stderr", file=sys.stderr)
    if isinstance(message, Request):
        if message.method == "echo":
            writer.write(Reply(id=writer.next_id(), re=message.id, result=message.args))
        else:
            writer.write(Error(id=writer.next_id(), re=message.id, code="unknown_method", message=message.method))
    elif isinstance(message, Shutdown):
        break
print("BYE", flush=True)
"""


def spawn_worker(protocol: int = P.PROTOCOL_VERSION) -> tuple[subprocess.Popen[bytes], int, int]:
    """A worker child with two dedicated frame pipes; returns (process, read fd, write fd)."""
    to_worker_r, to_worker_w = os.pipe()
    from_worker_r, from_worker_w = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT, str(to_worker_r), str(from_worker_w), str(protocol)],
        pass_fds=(to_worker_r, from_worker_w),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    os.close(to_worker_r)
    os.close(from_worker_w)
    return proc, from_worker_r, to_worker_w


def test_blocking_pipes_to_a_noisy_child_process() -> None:
    proc, rfd, wfd = spawn_worker()
    reader, writer = FrameReader(rfd, sender=WORKER), FrameWriter(wfd)
    try:
        hello = reader.read(timeout=30)
        assert isinstance(hello, Hello) and hello.pid == proc.pid and hello.agent == "echo"
        writer.write(Welcome(id=writer.next_id(), re=hello.id, protocol=P.PROTOCOL_VERSION, heartbeat_interval=1.0, max_frame=2**20))
        assert isinstance(reader.read(timeout=10), Heartbeat)
        # pipelined requests, answered in order with the right correlation ids
        requests = [Request(id=writer.next_id(), method="echo", args={"i": i, "blob": os.urandom(i * 97)}) for i in range(40)]
        writer.write_many(requests)
        for request in requests:
            reply = reader.read(timeout=10)
            assert isinstance(reply, Reply) and reply.re == request.id and reply.result == request.args
        writer.write(bad := Request(id=writer.next_id(), method="nope"))
        error = reader.read(timeout=10)
        assert isinstance(error, Error) and error.re == bad.id and error.code == "unknown_method"
        writer.write(Shutdown(id=writer.next_id(), reason="test"))
        out, err = proc.communicate(timeout=10)
        assert reader.read(timeout=5) is None  # clean EOF after the worker exited
    finally:
        os.close(rfd)
        os.close(wfd)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert out.count(b"garbage") == 42 and out.rstrip().endswith(b"BYE")
    assert b"noise on stderr" in err


def test_asyncio_guardian_with_child_worker() -> None:
    async def main() -> tuple[int, bytes]:
        proc, rfd, wfd = spawn_worker()
        reader, writer = await P.open_pipe(rfd, wfd)
        try:
            hello = await P.guardian_handshake(reader, writer, heartbeat_interval=0.5, timeout=30)
            assert hello.protocol == P.PROTOCOL_VERSION and hello.code_version == "v1"
            assert isinstance(await reader.read(), Heartbeat)
            pending = {}
            for i in range(100):
                request = Request(id=writer.next_id(), method="echo", args={"i": i})
                pending[request.id] = request
                writer.write_nowait(request)
            await writer.drain()
            while pending:
                reply = await asyncio.wait_for(reader.read(), 10)
                assert isinstance(reply, Reply)
                assert reply.result == pending.pop(reply.re).args
            await writer.write(Shutdown(id=writer.next_id()))
            assert await asyncio.wait_for(reader.read(), 10) is None
        finally:
            writer.close()
            reader.close()
            if proc.poll() is None:
                proc.kill()
        out, _ = proc.communicate(timeout=10)
        return proc.returncode, out

    code, out = asyncio.run(main())
    assert code == 0 and out.count(b"garbage") == 101


def test_version_mismatch_is_refused_on_both_sides() -> None:
    async def main() -> tuple[int, bytes]:
        proc, rfd, wfd = spawn_worker(protocol=99)
        reader, writer = await P.open_pipe(rfd, wfd)
        try:
            with pytest.raises(VersionMismatch, match=f"speaks {P.PROTOCOL_VERSION}, the peer speaks 99") as info:
                await P.guardian_handshake(reader, writer, timeout=30)
            assert info.value.theirs == 99
        finally:
            writer.close()
            reader.close()
        out, _ = proc.communicate(timeout=10)
        return proc.returncode, out

    code, out = asyncio.run(main())
    assert code == 3
    assert out.startswith(b"REFUSED protocol version mismatch: this side speaks 99")


def test_guardian_handshake_rejects_anything_but_hello() -> None:
    async def main() -> None:
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        reader, writer = await P.open_pipe(r1, w2)
        try:
            FrameWriter(w1).write(Heartbeat(id=1, time=0.0))
            with pytest.raises(ProtocolError, match="expected 'hello'"):
                await P.guardian_handshake(reader, writer, timeout=5)
            with pytest.raises(ProtocolError, match="no hello"):
                await P.guardian_handshake(reader, writer, timeout=0.05)
            os.close(w1)
            with pytest.raises(ProtocolError, match="closed the connection"):
                await P.guardian_handshake(reader, writer, timeout=5)
        finally:
            writer.close()
            reader.close()
            os.close(r2)

    asyncio.run(main())


def test_asyncio_reader_over_a_pipe_rejects_hostile_worker_frames() -> None:
    async def main() -> None:
        for payload, match in [
            (frame_of(b"\xdf\xff\xff\xff\xff"), "invalid msgpack"),
            (b"\0\0\0\0", "zero-length"),
            (b"\x7f\xff\xff\xff", "exceeds max_frame"),
            (encode_frame(Welcome(id=1, re=1, protocol=1, heartbeat_interval=1.0, max_frame=10)), "may not send"),
        ]:
            r1, w1 = os.pipe()
            r2, w2 = os.pipe()
            reader, writer = await P.open_pipe(r1, w2)
            try:
                os.write(w1, encode_frame(WalAppend(id=1, op="memory_add", args={"text": "x"})))
                os.write(w1, payload)
                first = await reader.read()
                assert isinstance(first, WalAppend) and first.seq is None
                with pytest.raises(ProtocolError, match=match):
                    await reader.read()
            finally:
                writer.close()
                reader.close()
                os.close(w1)
                os.close(r2)

    asyncio.run(main())


def test_large_checkpoint_and_restore_through_a_pipe() -> None:
    state = {"format": 1, "blocks": [{"id": f"m{i}", "embedding": os.urandom(1536)} for i in range(2000)]}
    checkpoint = Checkpoint(id=5, state=state, wal_seq=10, re=4)
    restore = Restore(id=6, checkpoint=state, wal=[WalRecord(seq=11, op="context_set", args={"k": "v"})])
    r, w = os.pipe()
    got: list[Message] = []
    thread = threading.Thread(target=lambda: got.extend(FrameReader(r, sender=None)))
    thread.start()
    writer = FrameWriter(w)
    writer.write(checkpoint)
    writer.write(restore)
    os.close(w)
    thread.join()
    os.close(r)
    assert got == [checkpoint, restore]


def test_error_message_defaults() -> None:
    error = Error(id=3, code="timeout")
    assert error.re is None and decode_frame(encode_frame(error)) == error


def test_unchecked_frames_are_the_frames_of_the_messages() -> None:
    """The worker's hot-path encoder gives byte-identical frames, defaults included."""
    args = {"memory": "notes", "payload": {"blocks": [{"id": "m1-0", "embedding": b"\0" * 8}]}, "time": 2.0}
    assert P.encode_frame_unchecked(P.WalAppend, id=7, op="memory_apply", args=args) == encode_frame(
        P.WalAppend(id=7, op="memory_apply", args=args))
    assert P.encode_frame_unchecked(P.Reply, id=8, re=3, result=["m1-0"]) == encode_frame(
        P.Reply(id=8, re=3, result=["m1-0"]))
    assert P.encode_frame_unchecked(P.Reply, id=9, re=4) == encode_frame(P.Reply(id=9, re=4))
    with pytest.raises(ProtocolError, match="cannot encode 'reply' message"):
        P.encode_frame_unchecked(P.Reply, id=10, re=5, result=object())
    with pytest.raises(ProtocolError, match="exceeds max_frame 16"):
        P.encode_frame_unchecked(P.Reply, 16, id=11, re=6, result="x" * 100)


def test_a_code_version_is_written_and_read_as_semver_plus_commit() -> None:
    from o_lisp.guardian._protocol import CodeVersion

    version = CodeVersion("1.2.3", "0123abc")
    assert str(version) == "1.2.3+0123abc"
    assert CodeVersion.parse(str(version)) == version
    assert CodeVersion.parse("") == CodeVersion("", "")
    assert CodeVersion.parse("0.1.0") == CodeVersion("0.1.0", "")
