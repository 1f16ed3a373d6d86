"""`o-lisp evolve --population ...`: the flags of a population cycle, refused before anything
starts (exit 2, exact texts), and what they become (the options sent to a server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from o_lisp import cli
from o_lisp.cli import main

ROOT = Path(__file__).resolve().parent.parent
GREETER = str(ROOT / "agents" / "greeter.hy")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env={"O_API_TOKEN": ""})


@pytest.mark.parametrize(("args", "message"), [
    (["--islands", "2"], "--islands: only with --population (or --resume)"),
    (["--workers", "2"], "--workers: only with --population (or --resume)"),
    (["--seed", "1"], "--seed: only with --population (or --resume)"),
    (["--max-evals", "10"], "--max-evals: only with --population (or --resume)"),
    (["--plot", "out.png"], "--plot: only with --population (or --resume)"),
    (["--population", "10", "--candidates", "4"],
     "--candidates: not with --population or --resume (a population cycle breeds --population individuals per "
     "generation)"),
    (["--population", "4", "--islands", "3"],
     "--islands (3) needs at least 2 individuals per island: --population 4 allows at most 2"),
    (["--resume", "r1", "--population", "10"],
     "--population: not with --resume (a resumed run keeps its own settings; only --workers may change)"),
    (["--resume", "r1", "--generations", "3"],
     "--generations: not with --resume (a resumed run keeps its own settings; only --workers may change)"),
    (["--resume", "../etc"], "--resume: '../etc' is not a run id (like 20261205T071502-3fa9c1)"),
    (["--population", "1"], "Invalid value for '--population': 1 is not in the range 2<=x<=1000."),
    (["--population", "10", "--workers", "0"], "Invalid value for '--workers': 0 is not in the range 1<=x<=64."),
    (["--population", "10", "--islands", "17"], "Invalid value for '--islands': 17 is not in the range 1<=x<=16."),
    (["--population", "10", "--seed", "-1"], "Invalid value for '--seed': -1 is not in the range 0<=x<=4294967295."),
    (["--population", "10", "--max-evals", "0"], "Invalid value for '--max-evals': 0 is not in the range x>=1."),
    (["--population", "10", "--generations", "51"],
     "Invalid value for '--generations': 51 is not in the range 1<=x<=50."),
    (["--population", "ten"], "Invalid value for '--population': 'ten' is not a valid integer range."),
])
def test_bad_population_flags_exit_2_with_what_is_wrong(args: list[str], message: str) -> None:
    result = invoke("evolve", GREETER, "greet", *args)
    assert result.exit_code == 2, result.output
    assert f"Error: {message}\n" in result.output
    assert "Traceback" not in result.output


def test_plot_without_matplotlib_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    result = invoke("evolve", GREETER, "greet", "--population", "10", "--plot", "fitness.png")
    assert result.exit_code == 2
    assert ("Error: --plot: drawing needs matplotlib, an optional extra: pip install 'o-lisp[plot]'\n"
            in result.output)


def test_a_resumed_run_that_does_not_exist_exits_2(tmp_path: Path) -> None:
    result = invoke("evolve", GREETER, "greet", "--data", str(tmp_path / "data"), "--resume", "20261205T000000-abc")
    assert result.exit_code == 2, result.output
    assert "o-lisp: cannot resume: no run '20261205T000000-abc' in " in result.output
    assert "(there are no runs in this data directory)" in result.output


def test_population_flags_become_the_request_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []

    def remote(base: str, token: str | None, options: dict[str, Any], view: Any, timeout: float | None) -> dict[str, Any]:
        sent.append(options)
        return {"id": "evo-1", "target": "greet", "status": "rejected", "events": [], "candidates": [],
                "population": {"run": "r1", "logbook": [{"gen": 1, "evals": 10}], "evaluations": 10}}

    monkeypatch.setattr(cli, "_evolve_remote", remote)
    url = "http://127.0.0.1:9"
    result = invoke("evolve", GREETER, "greet", "--url", url, "--population", "10", "--islands", "2",
                    "--workers", "3", "--seed", "5", "--max-evals", "99", "--json")
    resumed = invoke("evolve", GREETER, "greet", "--url", url, "--resume", "r1", "--workers", "2")
    assert result.exit_code == 1 and resumed.exit_code == 1  # nothing promoted
    assert sent == [
        {"definition": "greet", "hypothesis": "", "generations": 10, "canary": False, "population": 10,
         "islands": 2, "workers": 3, "seed": 5, "max_evals": 99},
        {"definition": "greet", "hypothesis": "", "canary": False, "resume": "r1", "workers": 2},
    ]
    printed = result.stdout
    assert '"logbook": [' in printed and '"evaluations": 10' in printed


def test_plot_draws_one_panel_per_objective(tmp_path: Path) -> None:
    # matplotlib: the optional extra [plot], which the test extra includes
    from o_lisp._plot import objectives, plot_logbook

    rows = [{"gen": g, "evals": 20, "best": {"checks_passed": g, "steps": 10}, "min": {"checks_passed": 0, "steps": 4},
             "avg": {"checks_passed": g / 2, "steps": 8.5}, "max": {"checks_passed": g, "steps": 12}}
            for g in (1, 2, 3)]
    assert objectives(rows) == ["checks_passed", "steps"]
    plot_logbook(rows, tmp_path / "fitness.png", title="f: run r1")
    assert (tmp_path / "fitness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no completed generation to draw"):
        plot_logbook([], tmp_path / "empty.png")


def test_o_lisp_toml_evolution_defaults_do_not_clash_with_a_population(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "o-lisp.toml").write_text("[evolution]\ncandidates = 7\ngenerations = 3\n")
    monkeypatch.chdir(tmp_path)
    sent: list[dict[str, Any]] = []

    def remote(base: str, token: str | None, options: dict[str, Any], view: Any, timeout: float | None) -> dict[str, Any]:
        sent.append(options)
        return {"id": "evo-1", "target": "greet", "status": "rejected", "events": [], "candidates": []}

    monkeypatch.setattr(cli, "_evolve_remote", remote)
    result = invoke("evolve", GREETER, "greet", "--url", "http://127.0.0.1:9", "--population", "10")
    assert result.exit_code == 1, result.output
    assert sent[0]["generations"] == 3 and "candidates" not in sent[0]  # the file's generations, no candidates
    assert sent[0]["islands"] == 2  # the search's default
    assert invoke("evolve", GREETER, "greet", "--url", "http://127.0.0.1:9", "--population", "3").exit_code == 1
    assert sent[-1]["islands"] == 1  # two islands need 4 individuals
    resumed = invoke("evolve", GREETER, "greet", "--url", "http://127.0.0.1:9", "--resume", "r1")
    assert resumed.exit_code == 1, resumed.output  # the file's defaults are not "--generations with --resume"


def test_the_summary_names_the_run_and_its_best() -> None:
    from o_lisp.cli import cycle_summary

    run = {"run": "20261205T064811-4ec7f2", "evaluations": 36, "completed_generations": 2, "generations": 5,
           "evaluations_per_second": 36.92, "best": {"checks_passed": 8, "checks_total": 8}}
    promoted = {"id": "evo-1", "target": "shipping-cost", "status": "promoted", "population": run,
                "result": {"version": "1.0.1", "commit": "f234e1f00", "tag": "v1.0.1"}}
    assert cycle_summary(promoted) == [
        "evo-1 promoted shipping-cost: version 1.0.1, commit f234e1f, tag v1.0.1",
        "evo-1 run 20261205T064811-4ec7f2: 36 evaluations in 2/5 generations (36.92/s), best passes 8/8 checks"]
    rejected = {**promoted, "status": "rejected", "population": {**run, "best": None}, "candidates": []}
    assert cycle_summary(rejected)[-1] == "evo-1 run 20261205T064811-4ec7f2: 36 evaluations in 2/5 generations (36.92/s)"
