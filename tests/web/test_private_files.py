"""The embedded default's files are its owner's only, and `make run` keeps DEBUG
pages off the network."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard import runguard

ROOT = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _start_settings(var_dir: Path, **extra: str) -> None:
    """Load the settings in a fresh process, as `make run` does on a first start."""
    env = {
        k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL"}
    }
    env.update(SCALEBOARD_VAR_DIR=str(var_dir), **extra)
    subprocess.run(
        [sys.executable, "-c", "import dashboard.settings"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=60,
    )


def test_the_generated_secret_key_and_the_sqlite_file_are_the_owners_only(tmp_path):
    var_dir = tmp_path / "var"
    old_umask = os.umask(0o022)  # the usual umask: files 0644, directories 0755
    try:
        _start_settings(var_dir)
    finally:
        os.umask(old_umask)
    assert _mode(var_dir) == 0o700
    assert _mode(var_dir / "secret_key") == 0o600
    assert len((var_dir / "secret_key").read_text().strip()) >= 50
    assert _mode(var_dir / "scaleboard.sqlite3") == 0o600


def test_files_left_readable_by_others_are_tightened_and_kept(tmp_path):
    tmp_path.joinpath("secret_key").write_text("k" * 60)
    tmp_path.joinpath("secret_key").chmod(0o644)
    tmp_path.joinpath("scaleboard.sqlite3").write_bytes(b"")
    tmp_path.joinpath("scaleboard.sqlite3").chmod(0o664)
    tmp_path.joinpath("scaleboard.sqlite3-wal").write_bytes(b"")
    tmp_path.joinpath("scaleboard.sqlite3-wal").chmod(0o644)
    _start_settings(tmp_path)
    assert _mode(tmp_path / "scaleboard.sqlite3-wal") == 0o600
    assert _mode(tmp_path / "secret_key") == 0o600
    assert (tmp_path / "secret_key").read_text() == "k" * 60
    assert _mode(tmp_path / "scaleboard.sqlite3") == 0o600


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]"])
def test_make_run_serves_debug_on_loopback(host, monkeypatch):
    monkeypatch.setenv("DEBUG", "true")
    assert runguard.main(["runguard", host]) == 0


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "scaleboard.lan"])
def test_make_run_refuses_debug_on_a_network_address(host, monkeypatch, capsys):
    monkeypatch.setenv("DEBUG", "true")
    monkeypatch.delenv("ALLOW_DEBUG_ON_NETWORK", raising=False)
    assert runguard.main(["runguard", host]) == 2
    message = capsys.readouterr().err
    assert f"Refusing to serve on {host} with DEBUG on" in message
    assert "DEBUG=false" in message


def test_make_run_on_the_network_goes_ahead_without_debug_or_when_overridden(
    monkeypatch, capsys
):
    monkeypatch.setenv("DEBUG", "false")
    assert runguard.main(["runguard", "0.0.0.0"]) == 0
    monkeypatch.setenv("DEBUG", "true")
    monkeypatch.setenv("ALLOW_DEBUG_ON_NETWORK", "true")
    assert runguard.main(["runguard", "0.0.0.0"]) == 0
    assert "WARNING" in capsys.readouterr().err


def test_the_makefile_runs_the_guard_before_serving():
    recipe = (ROOT / "Makefile").read_text().split("\nrun: venv\n", 1)[1]
    first_line = recipe.splitlines()[0]
    assert "dashboard.runguard $(HOST)" in first_line
