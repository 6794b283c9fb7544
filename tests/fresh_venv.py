"""Fresh virtual environments for install tests: create one, pip install into it, run its python.

Installing from the package registry is the point of these tests, so they never skip for any other
reason; :func:`pip_install` skips only when pip's own error says the registry could not be reached.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

# Substrings of pip's errors that mean "no connection to the registry" (urllib3 and socket errors),
# as opposed to a registry that answered but had no matching release, which is a real failure.
UNREACHABLE = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "ConnectTimeoutError",
    "ProxyError",
    "Max retries exceeded",
)


@dataclass(frozen=True)
class Venv:
    """A virtual environment at ``root``."""

    root: Path

    @property
    def python(self) -> Path:
        return self.root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")

    def run(self, *args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run this environment's python with ``args``; the caller checks the return code."""
        return subprocess.run([str(self.python), *args], cwd=cwd, env=_clean_env(), capture_output=True, text=True,
                              timeout=timeout)


def create(root: Path, system_site_packages: bool = False) -> Venv:
    """``python -m venv ROOT`` (with ``--system-site-packages`` when asked), with the pip it brings."""
    flags = ["--system-site-packages"] if system_site_packages else []
    done = subprocess.run([sys.executable, "-m", "venv", *flags, str(root)], env=_clean_env(), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return Venv(root)


def pip_install(venv: Venv, *args: str, timeout: float = 900) -> float:
    """``pip install --quiet ARGS`` in ``venv``; seconds it took. Skips only if the registry is unreachable."""
    start = time.perf_counter()
    done = venv.run("-m", "pip", "install", "--quiet", *args, timeout=timeout)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        reason = next((marker for marker in UNREACHABLE if marker in done.stderr), None)
        if reason is not None:
            pytest.skip(f"pip could not reach the package registry ({reason}): {done.stderr.strip()[-300:]}")
        raise AssertionError(f"pip install {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return seconds


def size_bytes(root: Path) -> int:
    """Bytes of every regular file under ``root`` (links not followed)."""
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def _clean_env() -> dict[str, str]:
    # PYTHONPATH or PYTHONHOME from the caller would leak the test process's packages into the venv.
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
