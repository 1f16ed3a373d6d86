"""`o-lisp evolve` and the evolution markers of `o-lisp history`, in-process with CliRunner.

* `history` runs against repositories built here with `CodeRepository` (a seed, a
  self-rewrite, a promotion with its version bump, a rejected candidate with its
  reason, rollbacks), and its output is compared line by line.
* `evolve --url` talks to a real `create_app` server on a free port whose guardian is
  a scripted stand-in: its evolution manager walks a cycle through fixed states, so
  progress lines, summaries and exit codes are exact.
* `evolve` without `--url` starts a real `Guardian` on `agents/greeter.hy`.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner, Result

from o_lisp.agent._definitions import Definition, DefinitionKind
from o_lisp.agent._repo import CodeRepository
from o_lisp.cli import CycleView, cycle_summary, history_markers, main
from o_lisp.guardian._evolution import EvolutionError
from o_lisp.guardian._http import create_app

ROOT = Path(__file__).resolve().parent.parent
GREETER = str(ROOT / "agents" / "greeter.hy")
TOKEN = "cli-token"


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env={"O_API_TOKEN": "", **(env or {})})


# -- history markers ---------------------------------------------------------------------------


def greet(reply: str) -> Definition:
    return Definition("greet", DefinitionKind.FUNCTION, f'(defn greet [name] "{reply}")')


@pytest.fixture
def repo(tmp_path: Path) -> CodeRepository:
    """seed → rewrite → promoted (+ version bump) → rejected candidate → rollback to the seed."""
    repository = CodeRepository.init(
        tmp_path / "code", "greeter", [greet("hello")], '(defagent greeter :version "0.1.0")', "0.1.0"
    )
    repository.commit_definition(greet("hi"), "shorter greeting", {"Tests": "1 passed"})
    repository.commit_definition(greet("good day"), "Evolve greet: politer",
                                 {"Evolution-Cycle": "evo-1", "Generator": "template"})
    repository.bump_version("0.1.1", "Evolve greet: politer", "greet: politer")
    repository.record_rejected(greet("yo"), "Evolve greet: slang",
                               {"Evolution-Cycle": "evo-2", "Stage": "validate", "Rejected": "deftest polite failed"})
    repository.rollback("v0.1.0", "probation: error rate 40%", {"Rolled-Back-By": "guardian", "Evolution-Cycle": "evo-1"})
    return repository


def test_history_marks_every_kind_of_commit(repo: CodeRepository) -> None:
    entries = repo.history(all=True)
    result = invoke("history", str(repo.path), "--all")
    assert (result.exit_code, result.stderr) == (0, "")
    # Commits made within one second may be listed in either order: find each by its trailers.
    rollback, rejected, bump, promoted, rewrite, seed = (
        next(e for e in entries if e.trailers["Change"] == change and ("Evolution-Cycle" in e.trailers) == cycle)
        for change, cycle in [("rollback", True), ("rejected", True), ("version", False), ("replace", True),
                              ("replace", False), ("create", False)]
    )

    def line(e: Any, marker: str, suffix: str = "") -> str:
        tags = f" ({', '.join(e.tags)})" if e.tags else ""
        return f"{e.short}  {e.version:<8} {e.time}  {marker:<8}  {e.summary}{tags}{suffix}"

    undone = f"  [rolled back by {rollback.short}]"
    heads = [text for text in result.stdout.splitlines() if not text.startswith("           ")]
    expected = {
        rollback.commit: line(rollback, "rollback"),
        rejected.commit: line(rejected, "rejected"),
        bump.commit: line(bump, "promoted", undone),
        promoted.commit: line(promoted, "promoted", undone),
        rewrite.commit: line(rewrite, "rewrite", undone),
        seed.commit: line(seed, "seed"),
    }
    assert heads == [expected[e.commit] for e in entries]
    assert expected[bump.commit].endswith("promoted  Evolve greet: politer (v0.1.1)" + undone)
    rejected_block = result.stdout.split("Rejected: Evolve greet: slang\n", 1)[1].split("\n")[:2]
    assert rejected_block == ["           why: validate: deftest polite failed", "           Definition: greet"]
    assert "           Rolled-Back-By: guardian\n" in result.stdout


def test_history_without_all_leaves_out_rejected_candidates(repo: CodeRepository) -> None:
    result = invoke("history", str(repo.path))
    assert result.exit_code == 0
    markers = [text.split()[3] for text in result.stdout.splitlines() if not text.startswith(" ")]
    assert sorted(markers) == ["promoted", "promoted", "rewrite", "rollback", "seed"]
    assert "why:" not in result.stdout and "Rejected" not in result.stdout


def test_history_json(repo: CodeRepository) -> None:
    result = invoke("history", str(repo.path), "--all", "--json")
    assert (result.exit_code, result.stderr) == (0, "")
    rows = json.loads(result.stdout)
    entries = repo.history(all=True)
    assert [r["commit"] for r in rows] == [e.commit for e in entries]
    by_change = {(r["trailers"]["Change"], "Evolution-Cycle" in r["trailers"]): r for r in rows}
    rollback = by_change[("rollback", True)]
    undone = rollback["short"]
    assert [(by_change[key]["marker"], by_change[key]["rolled_back_by"], by_change[key]["why"]) for key in [
        ("rollback", True), ("rejected", True), ("version", False), ("replace", True), ("replace", False),
        ("create", False)]] == [
        ("rollback", None, None), ("rejected", None, "validate: deftest polite failed"), ("promoted", undone, None),
        ("promoted", undone, None), ("rewrite", undone, None), ("seed", None, None)]
    assert rollback["trailers"]["Rolled-Back-By"] == "guardian"
    assert by_change[("version", False)]["tags"] == ["v0.1.1"]
    assert set(rows[0]) == {"commit", "short", "version", "time", "marker", "summary", "tags", "trailers",
                            "rolled_back_by", "why"}


def test_a_rollback_of_a_rollback_is_credited_to_the_closest_one(tmp_path: Path) -> None:
    """A → B → R1 (to A) → C → R2 (to A): B was undone by R1, C and R1 by R2."""
    repository = CodeRepository.init(tmp_path / "code", "g", [greet("a")], '(defagent g :version "0.1.0")', "0.1.0")
    repository.commit_definition(greet("b"), "b")
    repository.rollback("v0.1.0", "first")
    repository.commit_definition(greet("c"), "c")
    repository.rollback("v0.1.0", "second")
    entries = repository.history()
    marks = history_markers(entries)
    r2, r1 = entries[0].short, entries[2].short
    assert [e.summary for e in entries] == ["Rollback to v0.1.0: second", "c", "Rollback to v0.1.0: first", "b",
                                            "Create agent g 0.1.0"]
    assert [(m.marker, m.rolled_back_by) for m in marks] == [
        ("rollback", None), ("rewrite", r2), ("rollback", r2), ("rewrite", r1), ("seed", None),
    ]


def test_history_rejected_without_a_stage_shows_the_reason_trailer(tmp_path: Path) -> None:
    repository = CodeRepository.init(tmp_path / "code", "g", [greet("a")], '(defagent g :version "0.1.0")', "0.1.0")
    repository.record_rejected(greet("z"), "operator idea", {"Reason": "too terse"})
    repository.record_rejected(greet("q"), "self-rewrite", {"Tests": "0 passed, 1 failed"})
    marks = history_markers(repository.history(all=True))
    assert [(m.marker, m.why) for m in marks] == [("rejected", None), ("rejected", "too terse"), ("seed", None)]


def test_history_of_a_missing_agent_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("history", str(tmp_path / "nothing"))
    assert result.exit_code == 2
    assert f"no agent repository for '{tmp_path / 'nothing'}'" in result.stderr


# -- rendering ---------------------------------------------------------------------------------

CANDIDATES = [
    {"id": "evo-3.1", "generator": "mutation", "operator": "replace-subtree", "description": "d", "source": "(x)",
     "verdict": "rejected", "stage": "validate", "reason": "deftest polite failed", "evidence": {}},
    {"id": "evo-3.2", "generator": "template", "operator": "", "description": "", "source": "(y)",
     "verdict": "rejected", "stage": "decide", "reason": "no data", "evidence": {}},
    {"id": "evo-3.3", "generator": "", "operator": "", "description": "", "source": "(z)",
     "verdict": "pending", "stage": "validate", "reason": "", "evidence": {}},
]


def cycle(status: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "evo-3", "target": "greet", "hypothesis": "warmer", "origin": "operator", "status": status,
        "stage": "done", "progress": 1.0, "generation": 1, "generations": 1, "canary": False,
        "events": [{"time": 100.0, "message": "queued (operator): greet"},
                   {"time": 112.5, "message": "done: no candidate was promoted"}],
        "candidates": CANDIDATES, "result": None, "started": 100.0, "finished": 112.5,
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (cycle("promoted", result={"commit": "0123456789abcdef", "version": "0.1.2", "tag": "v0.1.2", "parent": "f"}),
         ["evo-3 promoted greet: version 0.1.2, commit 0123456, tag v0.1.2"]),
        (cycle("promoted", result={"commit": "0123456789abcdef", "version": "0.1.2", "tag": None}),
         ["evo-3 promoted greet: version 0.1.2, commit 0123456"]),
        (cycle("rejected"),
         ["evo-3 rejected: no candidate for greet was promoted",
          "  evo-3.1  mutation/replace-subtree  rejected at validate: deftest polite failed",
          "  evo-3.2  template  rejected at decide: no data",
          "  evo-3.3  ?  pending at validate"]),
        (cycle("rolled_back", candidates=CANDIDATES[:1],
               result={"commit": "abc", "version": "0.1.2", "tag": "v0.1.2", "rolled_back": True,
                       "rollback_reason": "worker crashed"}),
         ["evo-3 rolled back greet: worker crashed",
          "  evo-3.1  mutation/replace-subtree  rejected at validate: deftest polite failed"]),
        (cycle("failed", candidates=[], events=[{"time": 1.0, "message": "_ShadowDied: the shadow did not start"}]),
         ["evo-3 failed: _ShadowDied: the shadow did not start"]),
    ],
    ids=["promoted", "promoted-untagged", "rejected", "rolled-back", "failed"],
)
def test_cycle_summary(data: dict[str, Any], lines: list[str]) -> None:
    assert cycle_summary(data) == lines


def test_plain_view_prints_each_event_once() -> None:
    out = io.StringIO()
    first = cycle("running", stage="generate", progress=0.1, events=[{"time": 100.0, "message": "queued"}])
    with CycleView(out, live=False) as view:
        view.update(first)
        view.update(first)
        view.update(cycle("rejected"))
    assert out.getvalue() == (
        "evo-3      0.0s  queued\n"
        "evo-3     12.5s  done: no candidate was promoted\n"
    )


def test_terminal_view_draws_a_progress_bar_with_the_stage() -> None:
    out = io.StringIO()
    with CycleView(out, live=True) as view:
        view.update(cycle("running", stage="shadow", progress=0.42, generation=2, generations=3,
                          events=[{"time": 101.0, "message": "evo-3.1 passed validation; shadow test"}]))
        view._progress.refresh()
        drawn = out.getvalue()
    assert "evo-3 greet 2/3: shadow" in drawn
    assert "42%" in drawn
    assert "evo-3      1.0s  evo-3.1 passed validation; shadow test" in drawn


def test_terminal_view_has_a_row_per_candidate_with_its_stage_then_verdict() -> None:
    out = io.StringIO()
    candidates = [{"id": "evo-3.1", "operator": "swap-operator", "verdict": "pending", "stage": "offline"},
                  {"id": "evo-3.2", "operator": "crossover", "verdict": "pending", "stage": "waiting"}]
    with CycleView(out, live=True) as view:
        view.update(cycle("running", stage="validate", progress=0.3, candidates=candidates))
        view._progress.refresh()
        drawn = out.getvalue()
        assert "evo-3.1 swap-operator: offline" in drawn and "evo-3.2 crossover: waiting" in drawn
        candidates[0].update(verdict="rejected", stage="tests")
        view.update(cycle("running", stage="validate", progress=0.6, candidates=candidates))
        view._progress.refresh()
        assert "evo-3.1 swap-operator: rejected at tests" in out.getvalue()[len(drawn):]


# -- evolve --url against a server with a scripted manager ----------------------------------------


class ScriptedEvolution:
    """Each `get` returns the next state of the script; the last one repeats."""

    def __init__(self, script: list[dict[str, Any]], refusal: EvolutionError | None = None) -> None:
        self.script = script
        self.refusal = refusal
        self.started: list[tuple[str, dict[str, Any]]] = []
        self.reads = 0

    async def start(self, definition: str, **options: Any) -> str:
        if self.refusal is not None:
            raise self.refusal
        self.started.append((definition, options))
        return "evo-3"

    def get(self, cycle_id: str) -> dict[str, Any] | None:
        if cycle_id != "evo-3":
            return None
        state = self.script[min(self.reads, len(self.script) - 1)]
        self.reads += 1
        return state

    def list(self) -> list[dict[str, Any]]:
        return []


class ScriptedGuardian:
    def __init__(self, evolution: ScriptedEvolution) -> None:
        self.evolution = evolution
        self.metrics = object()

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        raise AssertionError(method)

    def health(self) -> dict[str, Any]:
        return {"status": "ok"}


@pytest.fixture
def server() -> Iterator[tuple[str, ScriptedEvolution]]:
    """A real HTTP server (create_app, token required) in a thread; yields its URL and manager."""
    manager = ScriptedEvolution([])
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        holder["stop"] = asyncio.Event()
        runner = web.AppRunner(create_app(ScriptedGuardian(manager), token=TOKEN))  # type: ignore[arg-type]
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        holder["url"] = f"http://{host}:{port}"
        ready.set()
        await holder["stop"].wait()
        await runner.cleanup()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield holder["url"], manager
    finally:
        loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(10)
        loop.close()


RUNNING = cycle("running", stage="validate", progress=0.3, finished=None,
                events=[{"time": 100.0, "message": "queued (operator): greet"}])


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("o_lisp.cli.POLL_SECONDS", 0.01)


def test_evolve_url_follows_the_cycle_to_a_promotion(server: tuple[str, ScriptedEvolution]) -> None:
    url, manager = server
    promoted = cycle("promoted", result={"commit": "0123456789", "version": "0.1.2", "tag": "v0.1.2"},
                     events=[*RUNNING["events"], {"time": 130.0, "message": "promoted evo-3.1 as 0.1.2 (0123456)"}])
    manager.script = [RUNNING, RUNNING, promoted]
    result = invoke("evolve", GREETER, "greet", "--url", url + "/", "--generations", "2", "--candidates", "3",
                    "--canary", "--hypothesis", "warmer", env={"O_API_TOKEN": TOKEN})
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        "evo-3      0.0s  queued (operator): greet\n"
        "evo-3     30.0s  promoted evo-3.1 as 0.1.2 (0123456)\n"
        "evo-3 promoted greet: version 0.1.2, commit 0123456, tag v0.1.2\n"
    )
    assert manager.started == [("greet", {"hypothesis": "warmer", "generations": 2, "candidates": 3, "canary": True,
                                          "source": None})]


def test_evolve_url_rejected_exits_1_and_json_prints_the_cycle(server: tuple[str, ScriptedEvolution]) -> None:
    url, manager = server
    manager.script = [RUNNING, cycle("rejected")]
    result = invoke("evolve", GREETER, "greet", "--url", url, "--token", TOKEN, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == cycle("rejected")
    assert result.stderr == (
        "evo-3      0.0s  queued (operator): greet\n"
        "evo-3     12.5s  done: no candidate was promoted\n"
        "evo-3 rejected: no candidate for greet was promoted\n"
        "  evo-3.1  mutation/replace-subtree  rejected at validate: deftest polite failed\n"
        "  evo-3.2  template  rejected at decide: no data\n"
        "  evo-3.3  ?  pending at validate\n"
    )
    assert manager.started == [("greet", {"hypothesis": "", "generations": 1, "candidates": 4, "canary": False,
                                          "source": None})]


@pytest.mark.parametrize(
    ("code", "exit_code", "message"),
    [("not_found", 2, "no definition 'nope' (404 not_found)"),
     ("bad_request", 2, "no definition 'nope' (400 bad_request)"),
     ("busy", 1, "no definition 'nope' (409 busy)")],
)
def test_evolve_url_server_refusals(server: tuple[str, ScriptedEvolution], code: str, exit_code: int,
                                    message: str) -> None:
    url, manager = server
    manager.refusal = EvolutionError("no definition 'nope'", code)
    result = invoke("evolve", GREETER, "nope", "--url", url, "--token", TOKEN)
    assert (result.exit_code, result.stdout) == (exit_code, "")
    assert result.stderr == f"o-lisp: POST {url}/v1/evolution: {message}\n"


def test_evolve_url_without_the_token_is_a_usage_error(server: tuple[str, ScriptedEvolution]) -> None:
    url, manager = server
    result = invoke("evolve", GREETER, "greet", "--url", url)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (f"o-lisp: POST {url}/v1/evolution: this endpoint needs "
                             "'Authorization: Bearer <token>' (401 unauthorized)\n")
    assert manager.started == []


def test_evolve_url_gives_up_after_the_timeout(server: tuple[str, ScriptedEvolution]) -> None:
    url, manager = server
    manager.script = [RUNNING]
    result = invoke("evolve", GREETER, "greet", "--url", url, "--token", TOKEN, "--timeout", "0.05")
    assert result.exit_code == 1
    assert result.stderr == (f"o-lisp: evo-3 is still running after 0.05 s (it keeps running on the server: "
                             f"GET {url}/v1/evolution/evo-3)\n")


def test_evolve_url_unreachable_server() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = invoke("evolve", GREETER, "greet", "--url", f"http://127.0.0.1:{port}")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (f"o-lisp: cannot reach http://127.0.0.1:{port}/v1/evolution: "
                             "[Errno 111] Connection refused\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "localhost:4000"], "Invalid value for '--url': 'localhost:4000' is not an http(s) URL like "
                                      "http://127.0.0.1:4000"),
        (["--generations", "0"], "Invalid value for '--generations': 0 is not in the range 1<=x<=50."),
        (["--candidates", "33"], "Invalid value for '--candidates': 33 is not in the range 1<=x<=32."),
        (["--timeout", "0"], "Invalid value for '--timeout': 0.0 is not in the range x>0."),
        (["--hypothesis", "h" * 1001], "Invalid value for '--hypothesis': longer than 1000 characters"),
    ],
)
def test_evolve_usage_errors(args: list[str], message: str) -> None:
    result = invoke("evolve", GREETER, "greet", *args)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1] == f"Error: {message}"


def test_evolve_missing_agent_file(tmp_path: Path) -> None:
    result = invoke("evolve", str(tmp_path / "nope.hy"), "greet", "--data", str(tmp_path / "d"))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"Error: cannot evolve '{tmp_path / 'nope.hy'}': no such file"


# -- evolve in-process with a real guardian ---------------------------------------------------------


def test_evolve_in_process_unknown_definition_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("evolve", GREETER, "nope", "--data", str(tmp_path / "data"))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith("o-lisp: the agent has no definition 'nope' (it has: ")
    assert "greet" in result.stderr and "Traceback" not in result.stderr


def test_evolve_in_process_runs_a_cycle_to_its_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a relative --data must work from anywhere
    result = invoke("evolve", GREETER, "greet", "--candidates", "1", "--data", "data", "--json")
    final = json.loads(result.stdout)
    assert final["id"] == "evo-1" and final["target"] == "greet"
    assert final["status"] in {"promoted", "rejected", "rolled_back", "failed"}
    assert result.exit_code == (0 if final["status"] == "promoted" else 1)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "evo-1      0.0s  queued (operator): greet"
    # said up front: no traffic here, so decided on the tests at once (not after 60 s per candidate)
    assert lines[1] == ("evo-1      0.0s  no live traffic in the last 60 s: decided offline, without waiting for "
                        "samples, on 1 test(s) (every one must pass), no fitness tasks; speed from timed runs of "
                        "the tests")
    (candidate,) = final["candidates"]
    assert candidate["stage"] != "shadow" and "no data" not in candidate["reason"], candidate
    assert lines[-len(cycle_summary(final)):] == cycle_summary(final)
    assert final["status"] != "failed", result.stderr
    assert (tmp_path / "data" / "code" / ".git").is_dir()


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--mirror-share", "2", "Invalid value for '--mirror-share': 2.0 is not in the range 0.0<=x<=1.0."),
    ("--perceive-every", "0.5", "Invalid value for '--perceive-every': 0.5 is not in the range x>=1.0."),
    ("--perceive-every", "soon", "Invalid value for '--perceive-every': 'soon' is not a valid float range."),
])
def test_serve_evolution_options_are_checked_before_anything_starts(option: str, value: str, message: str) -> None:
    result = invoke("serve", GREETER, option, value)
    assert result.exit_code == 2
    assert result.stderr.rstrip().splitlines()[-1] == f"Error: {message}"
