"""Every model reply is an agent-state mutation (`llm_reply`), durable before it is used: a
message retried after a crash replays the replies already paid for, and a kill -9 of
`o-lisp run` or `o-lisp serve` never makes the provider answer the same request twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from o_lisp._errors import ProgramError
from o_lisp.agent import Agent, AgentState
from o_lisp.agent._agent import _memory_from_data
from o_lisp.agent._durable import DurableState
from o_lisp.llm import METRICS_REGISTRY, ModelConfig
from tests.llm.fakes import Failure, FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-replay-test-key-0123456789"

ASKER = """\
(defagent asker
  :version "0.1.0"
  (defllm brain :provider "openai" :model "fake-model" :retries 0 :timeout 30)
  (defmemory notes :block-size 512 :overlap 50 :dim 384)
  (deftool recall [query :str [k 3] :int]
    :doc "The notes most relevant to a query."
    (lfor hit (memory-search query :k k) (get hit "text")))
  (when-> :name remember-this (.startswith (.lower msg) "remember ")
    (memory-add (.strip (cut msg 9 None)) :kind "long_term")
    "Noted.")
  (defn respond [text]
    (get (llm-chat [{"role" "user" "content" text}] :tools [recall]) "text")))
"""
ANSWER = "According to my notes: the office is on the third floor."


def _replayed(model: str) -> float:
    value = METRICS_REGISTRY.get_sample_value("o_lisp_llm_replayed_total", {"provider": "openai", "model": model})
    return value or 0.0


@pytest.fixture
def fake() -> Any:
    server = FakeOpenAI()
    yield server
    server.close()


def _agent(tmp_path: Path, fake: FakeOpenAI, state: AgentState | None = None, model: str = "fake-model") -> Agent:
    seed = tmp_path / "asker.hy"
    seed.write_text(ASKER)
    config = ModelConfig("brain", "openai", model, base_url=fake.base_url, retries=0, timeout=10.0)
    return Agent.load(seed, tmp_path / "data", grants=["llm"], llm_models={"brain": config}, state=state)


# -- in process ----------------------------------------------------------------------------


def test_a_retried_message_replays_the_recorded_reply_and_asks_only_what_is_new(fake: FakeOpenAI,
                                                                                tmp_path: Path) -> None:
    model = f"fake-retry-{fake.server.server_address[1]}"
    agent = _agent(tmp_path, fake, model=model)
    assert agent.handle("remember the office is on the third floor") == "Noted."
    fake.fail_next(Failure(), Failure(status=500, body=b'{"error": {"message": "down"}}'))
    with pytest.raises(ProgramError, match=r"LLMServerError: .*status 500"):
        agent.handle("where is the office?")
    assert len(fake.requests) == 2
    pending = agent.state["llm"]["pending"]
    assert [call["name"] for call in pending[0]["turn"]["tool_calls"]] == ["recall"]  # recorded, not answered
    assert agent.handle("where is the office?") == ANSWER
    assert len(fake.requests) == 3  # the tool call was replayed; only the answer was asked for
    assert "tool" in [m["role"] for m in fake.requests[2]["messages"]]
    assert _replayed(model) == 1
    assert agent.state["llm"]["pending"] == []  # answered: nothing left to replay
    assert agent.state["llm"]["totals"]["requests"] == 2
    assert agent.handle("where is the office?") == ANSWER  # a new message asks again: a record is no cache
    assert len(fake.requests) == 5


def test_a_reply_is_in_the_wal_before_it_is_used_even_inside_a_batch(tmp_path: Path) -> None:
    durable = DurableState.open(tmp_path / "data", "asker", "0.1.0", _memory_from_data)
    try:
        with durable.batch():
            durable.state.apply("append_message", {"role": "user", "text": "q", "time": 1.0})
            assert [op for _seq, op, _args in durable.wal.replay(0)] == []  # batched: not yet
            durable.state.apply("llm_reply", {"key": "k", "model": "brain", "provider": "openai",
                                              "turn": {"text": "a", "tool_calls": [], "usage": {"input_tokens": 3,
                                                                                                "output_tokens": 2}},
                                              "cost_usd": 0.0, "day": "2026-12-04", "time": 2.0})
            assert [op for _seq, op, _args in durable.wal.replay(0)] == ["append_message", "llm_reply"]
            durable.state.apply("append_message", {"role": "agent", "text": "a", "time": 3.0, "id": "r3"})
        assert [op for _seq, op, _args in durable.wal.replay(0)] == ["append_message", "llm_reply", "append_message"]
    finally:
        durable.close(checkpoint=False)
    reopened = DurableState.open(tmp_path / "data", "asker", "0.1.0", _memory_from_data)
    try:
        assert reopened.state["llm"]["day"]["input_tokens"] == 3
        assert reopened.state["llm"]["pending"] == []
        assert reopened.state.seq == 3
    finally:
        reopened.close()


def test_old_checkpoints_without_llm_records_load() -> None:
    data = AgentState("id", "asker", "0.1.0").to_data()
    del data["llm"]
    assert AgentState.from_data(data)["llm"]["pending"] == []


# -- real processes, kill -9 ------------------------------------------------------------------


def _env(fake: FakeOpenAI) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("O_", "OPENAI_", "ANTHROPIC_"))}
    env.update(PYTHONPATH=str(ROOT), OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY=KEY)
    return env


def _run(tmp_path: Path, fake: FakeOpenAI, *messages: str) -> subprocess.CompletedProcess[str]:
    arguments = [a for m in messages for a in ("-m", m)]
    return subprocess.run([sys.executable, "-m", "o_lisp.cli", "run", "asker.hy", "--grant", "llm", "--data", "data",
                           *arguments], capture_output=True, text=True, env=_env(fake), cwd=tmp_path, timeout=300)


def _wait_for_requests(fake: FakeOpenAI, n: int, process: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + 240
    while len(fake.requests) < n:
        assert process.poll() is None, "the process ended before the request was made"
        assert time.monotonic() < deadline, f"the fake saw {len(fake.requests)} requests, not {n}"
        time.sleep(0.05)


def _durable_llm(data: Path) -> dict[str, Any]:
    durable = DurableState.open(data, "asker", "0.1.0", _memory_from_data)
    try:
        return dict(durable.state["llm"])
    finally:
        durable.close(checkpoint=False)


def _check_after_the_kill(llm: dict[str, Any]) -> None:
    """The reply that was used (its tool call was made) survived the kill -9."""
    [record] = llm["pending"]
    assert [(c["name"], c["arguments"]) for c in record["turn"]["tool_calls"]] == [
        ("recall", {"query": "where is the office?"})]
    assert (llm["day"]["input_tokens"], llm["day"]["output_tokens"], llm["totals"]["requests"]) == (11, 7, 1)


def test_kill_9_of_o_lisp_run_after_a_reply_was_used_never_asks_for_it_again(fake: FakeOpenAI,
                                                                             tmp_path: Path) -> None:
    (tmp_path / "asker.hy").write_text(ASKER)
    done = _run(tmp_path, fake, "remember the office is on the third floor")
    assert (done.returncode, done.stdout) == (0, "Noted.\n"), done.stderr
    hold = threading.Event()
    fake.fail_next(Failure(), Failure(hold=hold))  # the answer (second request) hangs
    process = subprocess.Popen([sys.executable, "-m", "o_lisp.cli", "run", "asker.hy", "--grant", "llm", "--data",
                                "data", "-m", "where is the office?"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=_env(fake), cwd=tmp_path)
    try:
        _wait_for_requests(fake, 2, process)  # the first reply was used: its tool call ran, the answer is asked
        process.kill()
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        hold.set()
    _check_after_the_kill(_durable_llm(tmp_path / "data"))
    again = _run(tmp_path, fake, "where is the office?")
    assert (again.returncode, again.stdout) == (0, ANSWER + "\n"), again.stderr
    assert len(fake.requests) == 3  # not 4: the recorded tool call was replayed
    llm = _durable_llm(tmp_path / "data")
    assert (llm["pending"], llm["totals"]["requests"], llm["day"]["input_tokens"]) == ([], 2, 22)
    assert KEY not in again.stdout + again.stderr


def _start_serve(tmp_path: Path, fake: FakeOpenAI) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, "-m", "o_lisp.cli", "serve", "asker.hy", "--port", "0", "--data",
                                "data", "--grant", "llm"], stderr=subprocess.PIPE, text=True, env=_env(fake),
                               cwd=tmp_path)
    assert process.stderr is not None
    seen = [process.stderr.readline()]
    while "o-lisp: serving" not in seen[-1] and seen[-1] and len(seen) < 200:
        seen.append(process.stderr.readline())
    assert "o-lisp: serving" in seen[-1], "".join(seen)
    return process, seen[-1].split(" on ", 1)[1].split(" ", 1)[0].rstrip(",")


def _post(url: str, text: str) -> Any:
    request = urllib.request.Request(f"{url}/v1/messages", data=json.dumps({"text": text}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def _stop(process: subprocess.Popen[str], *, kill: bool) -> None:
    try:
        if process.poll() is None:
            if kill:
                process.kill()
            else:
                process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def test_kill_9_of_o_lisp_serve_after_a_reply_was_used_never_asks_for_it_again(fake: FakeOpenAI,
                                                                               tmp_path: Path) -> None:
    (tmp_path / "asker.hy").write_text(ASKER)
    process, url = _start_serve(tmp_path, fake)
    hold = threading.Event()
    lost: list[BaseException] = []
    try:
        assert _post(url, "remember the office is on the third floor")["reply"] == "Noted."
        fake.fail_next(Failure(), Failure(hold=hold))

        def ask() -> None:
            try:
                _post(url, "where is the office?")
            except (urllib.error.URLError, ConnectionError, OSError) as error:  # the guardian is killed
                lost.append(error)

        asking = threading.Thread(target=ask)
        asking.start()
        _wait_for_requests(fake, 2, process)
        _stop(process, kill=True)  # kill -9 of the guardian; its worker dies with it
        asking.join(60)
        assert lost, "the request in flight cannot have been answered"
    finally:
        _stop(process, kill=True)
        hold.set()
    process, url = _start_serve(tmp_path, fake)
    try:
        assert _post(url, "where is the office?")["reply"] == ANSWER
        assert len(fake.requests) == 3  # the recorded tool call was replayed, not asked for again
    finally:
        _stop(process, kill=False)
    llm = _durable_llm(tmp_path / "data")
    assert (llm["pending"], llm["totals"]["requests"], llm["day"]["input_tokens"]) == ([], 2, 22)


def test_kill_9_of_the_serving_worker_between_a_tool_call_and_the_answer(fake: FakeOpenAI, tmp_path: Path) -> None:
    """The guardian lives on and restarts the worker; the client's request fails, its retry
    replays the recorded tool-call turn and asks the model only for the answer."""
    (tmp_path / "asker.hy").write_text(ASKER)
    process, url = _start_serve(tmp_path, fake)
    hold = threading.Event()
    failed: list[int] = []
    try:
        assert _post(url, "remember the office is on the third floor")["reply"] == "Noted."
        with urllib.request.urlopen(f"{url}/health", timeout=30) as response:
            worker = json.loads(response.read())["worker_pid"]
        fake.fail_next(Failure(), Failure(hold=hold))

        def ask() -> None:
            try:
                _post(url, "where is the office?")
            except urllib.error.HTTPError as error:  # the worker died under the request
                failed.append(error.code)

        asking = threading.Thread(target=ask)
        asking.start()
        _wait_for_requests(fake, 2, process)
        os.kill(worker, signal.SIGKILL)
        asking.join(120)
        assert failed and failed[0] >= 500, failed
        hold.set()
        assert _post(url, "where is the office?")["reply"] == ANSWER
        assert len(fake.requests) == 3
        with urllib.request.urlopen(f"{url}/health", timeout=30) as response:
            assert json.loads(response.read())["worker_pid"] != worker
    finally:
        hold.set()
        _stop(process, kill=False)
    llm = _durable_llm(tmp_path / "data")
    assert (llm["pending"], llm["totals"]["requests"]) == ([], 2)
