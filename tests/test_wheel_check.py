"""The checks of `.ci/wheel_check.py` (which `make test` runs on the real wheel) fail loudly:
a wrong exit status, output or stderr, or a warning while building, is reported with the
command and what it printed. The wheel itself is built and used by the script, not here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wheel_check", ROOT / ".ci" / "wheel_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_expect_accepts_the_exact_output(wheel_check: ModuleType, tmp_path: Path) -> None:
    done = wheel_check.expect(python("print(1 + 2)"), tmp_path, {}, "3\n")
    assert done.stdout == "3\n"


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("print(4)", "    | 4"),  # other output
        ("import sys; print(3); sys.exit(1)", "exit status 1"),
        ("import sys; print(3); print('careful', file=sys.stderr)", "    | careful"),
    ],
)
def test_expect_reports_any_deviation(wheel_check: ModuleType, tmp_path: Path, code: str, problem: str) -> None:
    with pytest.raises(wheel_check.CheckFailed) as caught:
        wheel_check.expect(python(code), tmp_path, {}, "3\n")
    report = str(caught.value)
    assert f"$ {sys.executable} -c {code}" in report
    assert "expected stdout:\n    | 3" in report
    assert problem in report


def test_a_build_warning_fails_the_check(wheel_check: ModuleType, tmp_path: Path) -> None:
    noisy = "import sys; print('SetuptoolsDeprecationWarning: `project.license` as a TOML table is deprecated', file=sys.stderr)"
    with pytest.raises(wheel_check.CheckFailed) as caught:
        wheel_check.no_warnings(python(noisy), tmp_path)
    assert str(caught.value).startswith("printed warnings:\n    | SetuptoolsDeprecationWarning: `project.license`")


def test_notes_about_the_machine_are_not_warnings_about_the_project(wheel_check: ModuleType, tmp_path: Path) -> None:
    quiet = ("import sys; print(\"WARNING: Location 'file:///opt/x/simple/lark/' is ignored: it is neither "
             "a file nor a directory.\", file=sys.stderr); print('warning: build_py: byte-compiling is disabled, skipping.')")
    wheel_check.no_warnings(python(quiet), tmp_path)


def test_a_failing_build_step_fails_the_check(wheel_check: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(wheel_check.CheckFailed, match=r"^failed:\n\$ .*\n  exit status 3"):
        wheel_check.no_warnings(python("raise SystemExit(3)"), tmp_path)


def test_the_commands_run_without_the_checkout_on_the_path(wheel_check: ModuleType, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("O_API_TOKEN", "secret")
    env = wheel_check._environment(tmp_path / "venv")
    assert "PYTHONPATH" not in env and "O_API_TOKEN" not in env
    assert env["PATH"].split(":")[0] == str(tmp_path / "venv" / "bin")
