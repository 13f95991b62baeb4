"""An OpenAI-compatible backend honours HTTP_PROXY / NO_PROXY from the environment, as httpx
does, on both the async path and the blocking one of a synchronous call.

The fake server acts as the forward proxy: a proxied ``http://`` request reaches it with
the backend's absolute URL as its target and the backend's host in ``Host``. The backend's
own address is a closed loopback port, so an answer can only have come through the proxy.
"""

from __future__ import annotations

import asyncio

import pytest

from llmdeck_nb.backends.base import BackendRequest
from llmdeck_nb.backends.openai_compatible import OpenAICompatibleStrategy
from llmdeck_nb.engine.loop import run_eager
from llmdeck_nb.errors import BackendConnectionError
from test_backend_retryability import closed_port


def _request(endpoint: str) -> BackendRequest:
    return BackendRequest(backend="behind_proxy", provider="openai", model_id="m",
                          messages=[{"role": "user", "content": "via proxy"}],
                          endpoint=endpoint, timeout=5.0)


def _proxy_env(monkeypatch, proxy: str, no_proxy: str | None) -> None:
    """Both spellings (urllib, which httpx asks, prefers the lower-case one when both are set)."""
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        if no_proxy is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, no_proxy)


def _complete(strategy: OpenAICompatibleStrategy, request: BackendRequest, blocking: bool):
    if blocking:
        return run_eager(strategy.complete(request), blocking_io=True)
    return asyncio.run(strategy.complete(request))


@pytest.mark.parametrize("blocking", [False, True], ids=["async", "blocking"])
def test_calls_go_through_the_proxy_named_in_the_environment(fake_llm_server, monkeypatch,
                                                              blocking):
    backend = f"127.0.0.1:{closed_port()}"
    _proxy_env(monkeypatch, fake_llm_server.url, None)
    strategy = OpenAICompatibleStrategy()  # clients read the environment when created

    answer = _complete(strategy, _request(f"http://{backend}/v1"), blocking)

    assert answer.text == "echo: via proxy"
    assert fake_llm_server.requests[-1].headers["host"] == backend
    assert fake_llm_server.requests[-1].path == "/v1/chat/completions"


@pytest.mark.parametrize("blocking", [False, True], ids=["async", "blocking"])
def test_no_proxy_hosts_are_called_directly(fake_llm_server, monkeypatch, blocking):
    _proxy_env(monkeypatch, fake_llm_server.url, "127.0.0.1")
    strategy = OpenAICompatibleStrategy()

    with pytest.raises(BackendConnectionError):
        _complete(strategy, _request(f"http://127.0.0.1:{closed_port()}/v1"), blocking)
    assert fake_llm_server.requests == []
