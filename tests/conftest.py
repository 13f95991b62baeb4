import pytest

# test modules import helpers from this plugin module as well as load it as a plugin
pytest.register_assert_rewrite("notebooks_magics.shell_fixtures")

from redis_server import redis_server  # noqa: E402, F401
from fake_llm_server import fake_llm_server  # noqa: E402, F401


@pytest.fixture(autouse=True)
def _no_user_key_store(tmp_path_factory, monkeypatch):
    """Tests never read (or write) the user's own key store: each gets an empty one."""
    monkeypatch.setenv("LLMDECK_KEYS_DIR", str(tmp_path_factory.mktemp("keys")))
