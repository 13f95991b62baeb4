from redis_server import redis_server  # noqa: F401
from fake_llm_server import fake_llm_server  # noqa: F401
