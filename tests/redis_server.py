"""A real, throw-away redis-server for tests (and the cache benchmark).

Fixtures (session-scoped):

* ``redis_server``: URL ``redis://127.0.0.1:<port>/0`` of a server with no password;
* ``redis_server_auth``: a second server started with ``--requirepass``; yields a
  :class:`RedisAuthServer` (``url`` with the password, ``password``, ``port``).

Both skip the test when ``redis-server`` is not on PATH. Nothing is written to disk
(``--save "" --appendonly no``); the server listens on 127.0.0.1 only.
``tests/conftest.py`` imports ``redis_server`` so every test module can use it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SKIP_REASON = "redis-server not installed (apt-get install redis-server); .ci/run installs it"
TEST_PASSWORD = "sk-test-SENTINEL-0123456789abcdef"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            reply = s.recv(64)
    except OSError:
        return False
    # "+PONG" without a password; "-NOAUTH ..." when --requirepass is set: both mean up.
    return reply.startswith((b"+PONG", b"-NOAUTH"))


@dataclass
class RedisProcess:
    process: subprocess.Popen[bytes]
    port: int

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_redis(workdir: Path, *, password: str | None = None, attempts: int = 3,
                port: int | None = None) -> RedisProcess:
    """Start redis-server on ``port`` (default: a free 127.0.0.1 port) and wait until it
    answers PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError(SKIP_REASON)
    workdir.mkdir(parents=True, exist_ok=True)
    last_error = ""
    wanted = port
    for attempt in range(attempts):  # the free port can be taken between bind and start
        port = wanted or free_port()
        log = workdir / f"redis-{port}-{attempt}.log"
        cmd = [
            binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no",
            "--logfile", str(log),
        ]  # fmt: skip
        if password:
            cmd += ["--requirepass", password]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(workdir)
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if _answers_ping(port):
                return RedisProcess(proc, port)
            time.sleep(0.02)
        RedisProcess(proc, port).stop()
        last_error = log.read_text(errors="replace")[-500:] if log.exists() else ""
    raise RuntimeError(f"redis-server did not start: {last_error}")


@dataclass(frozen=True)
class RedisAuthServer:
    url: str  # redis://:<password>@127.0.0.1:<port>/0
    password: str
    port: int


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real redis-server (no password) shared by the whole test session."""
    if shutil.which("redis-server") is None:
        pytest.skip(SKIP_REASON)
    server = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisAuthServer]:
    """A redis-server started with --requirepass TEST_PASSWORD."""
    if shutil.which("redis-server") is None:
        pytest.skip(SKIP_REASON)
    server = start_redis(tmp_path_factory.mktemp("redis_auth"), password=TEST_PASSWORD)
    try:
        yield RedisAuthServer(
            url=f"redis://:{TEST_PASSWORD}@127.0.0.1:{server.port}/0",
            password=TEST_PASSWORD,
            port=server.port,
        )
    finally:
        server.stop()
