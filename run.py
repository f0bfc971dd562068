#!/usr/bin/env python3
"""The two commands of the quick start, with nothing but Python 3.11+ on the machine.

    python3 run.py demo     # venv + install, SQLite under var/, demo city, web app + worker
    python3 run.py test     # the whole test suite (pytest); any pytest options may follow

Anything else is passed to the `fangkong` command inside the virtual environment:
    python3 run.py createstaff ...    python3 run.py bench registry --size 100000

The virtual environment lives in `.venv/` and is (re)installed only when pyproject.toml
changes, so a second run starts in a few seconds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".fangkong-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")

# pytest's exit code when it collected nothing: a suite that ran no test has failed.
PYTEST_NO_TESTS = 5


def say(message: str) -> None:
    print(f"[fangkong] {message}", file=sys.stderr, flush=True)


def ensure_environment() -> None:
    """Create .venv and install fangkong with its test extras when pyproject.toml changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - run.py must speak to older Pythons
        sys.exit("fangkong needs Python 3.11 or newer; this is " + sys.version.split()[0])
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted and PYTHON.exists():
        return
    if not _has_pip():
        try:
            import ensurepip  # noqa: F401 - Debian ships it separately
        except ImportError:
            sys.exit("This Python cannot create virtual environments. On Debian or Ubuntu: "
                     "sudo apt install python3-venv   (then run this command again)")
        say("creating the virtual environment in .venv/ ...")
        # Built in place: the scripts of a venv name its folder in their first line, so one
        # built aside and renamed has a pip that does not start. A run interrupted here
        # leaves a .venv/ without a working pip, which the next run builds again.
        shutil.rmtree(VENV, ignore_errors=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    say("installing fangkong and its pinned dependencies (first run only) ...")
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "-e", f"{ROOT}[test]"], check=True, cwd=ROOT)  # noqa: S603
    STAMP.write_text(wanted)


def _has_pip() -> bool:
    if not PYTHON.exists():
        return False
    probe = [str(PYTHON), "-m", "pip", "--version"]
    return subprocess.call(probe, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0  # noqa: S603


def run_tests(args: list[str]) -> int:
    code = subprocess.call([str(PYTHON), "-m", "pytest", *args], cwd=ROOT)  # noqa: S603
    if code == PYTEST_NO_TESTS:
        say("pytest collected no tests: that is a failure, not a pass")
        return 1
    return code


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    ensure_environment()
    command, rest = argv[0], argv[1:]
    if command == "test":
        return run_tests(rest)
    if command == "install":
        return 0
    fangkong = BIN / ("fangkong.exe" if os.name == "nt" else "fangkong")
    return subprocess.call([str(fangkong), command, *rest], cwd=ROOT)  # noqa: S603


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
