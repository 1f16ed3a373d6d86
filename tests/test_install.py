"""The Lisp files shipped inside the package (o_lisp/stdlib/*.hy) and what happens when an
installation lacks them: an `InstallationError` saying so, never a program error.

The wheel itself (built, installed in a fresh venv, run from another directory) is checked
by `.ci/wheel-check`, which `make test` runs.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from o_lisp import InstallationError, Interpreter, LispError, _interpreter, _resources
from o_lisp.cli import main
from o_lisp.evolution._generators import TemplateGenerator

ROOT = Path(__file__).resolve().parent.parent
STDLIB_FILES = ("agent.hy", "core.hy", "templates.hy")


def test_the_stdlib_is_a_resource_of_the_package() -> None:
    names = sorted(entry.name for entry in _resources.STDLIB_DIR.iterdir() if entry.name.endswith(".hy"))
    assert names == list(STDLIB_FILES)
    filename, text = _resources.stdlib_source("core.hy")
    assert Path(filename) == ROOT / "o_lisp" / "stdlib" / "core.hy"
    assert "(defmacro ->" in text


def test_package_data_ships_every_stdlib_file() -> None:
    """The wheel includes what `stdlib_source` reads: every .hy file of o_lisp/stdlib
    matches a package-data pattern of pyproject.toml."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["o_lisp"]
    package = ROOT / "o_lisp"
    for name in STDLIB_FILES:
        assert any((package / "stdlib" / name).match(f"{package}/{p}") for p in patterns), name


@pytest.fixture
def broken_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installation whose stdlib directory is empty, with nothing cached yet."""
    monkeypatch.setattr(_resources, "STDLIB_DIR", tmp_path)
    monkeypatch.setattr(_interpreter, "_library_cache", {})
    return tmp_path


def test_a_missing_stdlib_is_an_installation_error(broken_install: Path) -> None:
    with pytest.raises(InstallationError) as caught:
        Interpreter()
    assert not isinstance(caught.value, LispError)
    assert str(caught.value) == (
        "the o_lisp package is incomplete: its standard library file core.hy is missing "
        f"(looked for {broken_install / 'core.hy'}); reinstall o-lisp"
    )


def test_an_unreadable_stdlib_is_an_installation_error(broken_install: Path) -> None:
    (broken_install / "core.hy").write_bytes(b"\xff\xfe(defn")
    with pytest.raises(InstallationError, match=r"^the o_lisp package is damaged: cannot read its standard library file core\.hy"):
        Interpreter()


def test_missing_templates_are_an_installation_error(broken_install: Path) -> None:
    with pytest.raises(InstallationError, match=r"standard library file templates\.hy is missing"):
        TemplateGenerator()


def test_the_cli_reports_a_broken_install_without_a_traceback(broken_install: Path) -> None:
    result = CliRunner().invoke(main, ["eval", "(+ 1 2)"], catch_exceptions=False, prog_name="o-lisp")
    assert (result.exit_code, result.stdout, result.stderr) == (
        1,
        "",
        "InstallationError: the o_lisp package is incomplete: its standard library file core.hy "
        f"is missing (looked for {broken_install / 'core.hy'}); reinstall o-lisp\n",
    )


def test_a_stdlib_loaded_once_is_not_read_again(broken_install: Path) -> None:
    """The compiled stdlib is cached per process: later interpreters do not touch the files."""
    (broken_install / "core.hy").write_text((ROOT / "o_lisp" / "stdlib" / "core.hy").read_text("utf-8"), "utf-8")
    assert Interpreter().eval("(-> 5 (+ 1))") == 6
    (broken_install / "core.hy").unlink()
    assert Interpreter().eval("(-> 5 (+ 1))") == 6


def test_serve_refuses_a_broken_install_before_starting_workers(broken_install: Path, tmp_path: Path) -> None:
    agent = tmp_path / "a.hy"
    agent.write_text("(defagent a)")
    result = CliRunner().invoke(main, ["serve", str(agent), "--port", "0", "--data", str(tmp_path / "data")],
                                catch_exceptions=False, prog_name="o-lisp")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "InstallationError: the o_lisp package is incomplete: its standard library file core.hy is missing "
        f"(looked for {broken_install / 'core.hy'}); reinstall o-lisp\n"
    )
    assert not (tmp_path / "data").exists()


def test_check_installation_reads_every_stdlib_file() -> None:
    _resources.check_installation()
    assert set(_resources.STDLIB_FILES) == set(STDLIB_FILES)
