"""`llmdeck serve` as a real process (a real uvicorn) on a free loopback port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

# the console script of the Python running the tests (a venv's, not another on PATH)
_BESIDE = Path(sys.executable).with_name("llmdeck")
LLMDECK = str(_BESIDE) if _BESIDE.is_file() else shutil.which("llmdeck")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServeProcess:
    process: subprocess.Popen
    url: str  # http://127.0.0.1:PORT
    output: Path  # its stdout and stderr

    def read_output(self) -> str:
        return self.output.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_serve(deck: Path, env: Mapping[str, str], output: Path,
                args: Sequence[str] = (), startup_timeout: float = 30.0) -> ServeProcess:
    """Start `llmdeck serve --deck DECK` on a free port; return once /health answers."""
    assert LLMDECK, "the llmdeck console script is not installed (pip install -e .)"
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LLMDECK_SERVE")}
    environment.update(env)
    handle = output.open("wb")
    process = subprocess.Popen([LLMDECK, "serve", "--deck", str(deck), "--port", str(port), *args],
                               stdout=handle, stderr=subprocess.STDOUT, env=environment)
    handle.close()
    served = ServeProcess(process, f"http://127.0.0.1:{port}", output)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("llmdeck serve exited "
                               f"({process.returncode}):\n{served.read_output()}")
        try:
            if httpx.get(served.url + "/health", timeout=1).status_code == 200:
                return served
        except httpx.HTTPError:
            time.sleep(0.05)
    served.stop()
    raise RuntimeError(f"llmdeck serve did not answer /health in {startup_timeout} s:\n"
                       + served.read_output())
