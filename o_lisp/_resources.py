"""The Lisp files that ship inside the package: the standard library (`core.hy`,
`agent.hy`) and the rewrite templates of evolution (`templates.hy`), in `o_lisp/stdlib/`.

They are read with `importlib.resources`, so they are found wherever the package is
installed (a wheel in site-packages, an editable checkout, a zip). A missing or
unreadable file is an `InstallationError`: the installation is broken, not the
program being run.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

from o_lisp._errors import InstallationError

STDLIB_DIR: Traversable = resources.files("o_lisp") / "stdlib"
"""The directory of the Lisp standard library inside the installed package."""
STDLIB_FILES = ("core.hy", "agent.hy", "templates.hy")
"""Every file of it: what `check_installation` reads."""


def stdlib_source(name: str) -> tuple[str, str]:
    """The filename (for error positions) and text of the stdlib file `name`, e.g. "core.hy"."""
    resource = STDLIB_DIR / name
    try:
        text = resource.read_text("utf-8")
    except FileNotFoundError:
        raise InstallationError(
            f"the o_lisp package is incomplete: its standard library file {name} is missing "
            f"(looked for {resource}); reinstall o-lisp"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InstallationError(
            f"the o_lisp package is damaged: cannot read its standard library file {name} "
            f"({resource}): {error}; reinstall o-lisp"
        ) from None
    return str(resource), text


def check_installation() -> None:
    """Raise `InstallationError` unless every stdlib file is there and readable: what a
    command that starts worker processes (`o-lisp serve`) checks before it starts any, so
    a broken installation is reported once instead of as a crash loop of its workers."""
    for name in STDLIB_FILES:
        stdlib_source(name)
