"""Response cache: keys, the disk cache (real diskcache directories), the Redis cache
(a real redis-server, see tests/redis_server.py) and open_cache."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from redis_server import TEST_PASSWORD, free_port, redis_server_auth  # noqa: F401

from llmdeck_nb import redaction
from llmdeck_nb.cache import (
    CACHE_FORMAT_VERSION,
    CacheStats,
    DiskResponseCache,
    ResponseCache,
    cache_key,
    open_cache,
)
from llmdeck_nb.cache import keys as keys_module
from llmdeck_nb.errors import CacheError
from llmdeck_nb.redaction import Secret

SENTINEL = "sk-test-SENTINEL-0123456789abcdef"
REPO = Path(__file__).resolve().parents[1]


def base_request(**overrides):
    request = {
        "backend": "openai",
        "endpoint": "https://api.openai.com/v1",
        "model_id": "gpt-4.1-mini",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Name three prime numbers."},
        ],
        "params": {"temperature": 0.2, "max_tokens": 200, "top_p": 0.9, "seed": 7},
        "schema": None,
    }
    request.update(overrides)
    return request


def answer(text="2, 3, 5", **extra):
    value = {
        "text": text,
        "input_tokens": 21,
        "output_tokens": 7,
        "cost_usd": 0.000123,
        "model_id": "gpt-4.1-mini-2025-04-14",
        "finish_reason": "stop",
        "created_at": "2025-01-01T12:00:00+00:00",
    }
    value.update(extra)
    return value


def raw_bytes_under(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


# --- cache_key ---------------------------------------------------------------------------


class TestCacheKey:
    @pytest.mark.parametrize("overrides", [
        {},
        {"schema": {"type": "object", "properties": {"n": {"type": "integer"}}}, "sample": 3},
        {"endpoint": None, "params": {}, "sample": 1},
        {"messages": [{"role": "user", "content": "héllo \ud800 \"quoted\""}],
         "params": {"temperature": 1.0, "stop": ["a", "b"], "seed": None}},
    ])
    def test_the_key_is_the_sha256_of_the_documented_canonical_document(self, overrides):
        # entries written by earlier versions are found again: the key is exactly the
        # module doc's canonical JSON (sorted keys, compact, ASCII), however it is built
        request = base_request(**overrides)
        sample = request.pop("sample", None)
        params = {name: int(value) if isinstance(value, float) and value.is_integer() else value
                  for name, value in request["params"].items() if value is not None}
        document = {"v": CACHE_FORMAT_VERSION, **request, "params": params,
                    "endpoint": request["endpoint"] and request["endpoint"].rstrip("/")}
        if sample is not None and sample > 1:
            document["sample"] = sample
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        expected = hashlib.sha256(text.encode("ascii")).hexdigest()
        assert cache_key(**request, sample=sample) == expected
        template = keys_module.KeyTemplate(backend=request["backend"],
                                           endpoint=request["endpoint"],
                                           model_id=request["model_id"], params=request["params"])
        assert template.key(request["messages"], request["schema"], sample) == expected

    def test_same_inputs_same_key(self):
        k1, k2 = cache_key(**base_request()), cache_key(**base_request())
        assert k1 == k2
        assert len(k1) == 64 and int(k1, 16) >= 0

    @pytest.mark.parametrize(
        "override",
        [
            {"backend": "azure"},
            {"endpoint": "http://localhost:1234/v1"},
            {"endpoint": None},
            {"model_id": "gpt-4.1"},
            {"messages": [{"role": "user", "content": "Name three prime numbers."}]},
            {"messages": [{"role": "system", "content": "You are terse."},
                          {"role": "user", "content": "Name four prime numbers."}]},
            {"messages": [{"role": "system", "content": "You are terse."},
                          {"role": "assistant", "content": "Name three prime numbers."}]},
            {"schema": {"type": "object", "properties": {"primes": {"type": "array"}}}},
        ],
    )  # fmt: skip
    def test_each_field_changes_the_key(self, override):
        assert cache_key(**base_request(**override)) != cache_key(**base_request())

    @pytest.mark.parametrize(
        "param, value",
        [("temperature", 0.3), ("max_tokens", 201), ("top_p", 1.0), ("seed", 8), ("stop", ["\n"])],
    )
    def test_each_param_changes_the_key(self, param, value):
        request = base_request()
        params = dict(request["params"], **{param: value})
        assert cache_key(**base_request(params=params)) != cache_key(**request)

    def test_schema_content_changes_the_key(self):
        s1 = {"type": "object", "properties": {"a": {"type": "string"}}}
        s2 = {"type": "object", "properties": {"a": {"type": "integer"}}}
        assert cache_key(**base_request(schema=s1)) != cache_key(**base_request(schema=s2))

    def test_version_changes_the_key(self, monkeypatch):
        before = cache_key(**base_request())
        monkeypatch.setattr(keys_module, "CACHE_FORMAT_VERSION", CACHE_FORMAT_VERSION + 1)
        assert cache_key(**base_request()) != before

    def test_param_order_and_none_params_do_not_matter(self):
        a = base_request(params={"temperature": 0.2, "max_tokens": 200})
        b = base_request(params={"max_tokens": 200, "top_k": None, "temperature": 0.2})
        assert cache_key(**a) == cache_key(**b)
        assert cache_key(**base_request(params={})) == cache_key(
            **base_request(params={"temperature": None})
        )

    def test_dict_order_inside_messages_and_schema_does_not_matter(self):
        a = base_request(messages=[{"role": "user", "content": "x"}], schema={"a": 1, "b": 2})
        b = base_request(messages=[{"content": "x", "role": "user"}], schema={"b": 2, "a": 1})
        assert cache_key(**a) == cache_key(**b)

    def test_integral_float_param_equals_int(self):
        a = base_request(params={"temperature": 1})
        b = base_request(params={"temperature": 1.0})
        assert cache_key(**a) == cache_key(**b)

    def test_no_api_key_parameter(self):
        with pytest.raises(TypeError):
            cache_key(**base_request(), api_key="sk-whatever-0123456789")  # type: ignore[call-arg]

    def test_credentials_never_split_the_cache(self):
        plain = cache_key(**base_request(params={"temperature": 0.2}))
        for params in (
            {"temperature": 0.2, "api_key": "sk-alice-0123456789abcdef"},
            {"temperature": 0.2, "api_key": Secret("sk-bob-0123456789abcdef")},
            {"temperature": 0.2, "Authorization": "Bearer abcdefghijkl"},
        ):
            assert cache_key(**base_request(params=params)) == plain
        with_userinfo = base_request(
            endpoint="https://alice:pw0123456@proxy.example.com/v1/", params={"temperature": 0.2}
        )
        no_userinfo = base_request(
            endpoint="https://proxy.example.com/v1", params={"temperature": 0.2}
        )
        assert cache_key(**with_userinfo) == cache_key(**no_userinfo)
        two = base_request(endpoint="https://a.example.com/v1,https://u:pw012345@b.example.com/v1/")
        two_plain = base_request(endpoint="https://a.example.com/v1,https://b.example.com/v1")
        assert cache_key(**two) == cache_key(**two_plain)
        q1 = base_request(endpoint="https://g.example.com/v1?key=AAAAAAAA1111")
        q2 = base_request(endpoint="https://g.example.com/v1?key=BBBBBBBB2222")
        assert cache_key(**q1) == cache_key(**q2)

    def test_secret_inside_data_is_refused(self):
        messages = [{"role": "user", "content": Secret("sk-carol-0123456789abcdef")}]
        with pytest.raises(CacheError, match="Secret"):
            cache_key(**base_request(messages=messages))

    def test_non_json_value_is_a_cache_error(self):
        with pytest.raises(CacheError, match="not JSON-able"):
            cache_key(**base_request(params={"temperature": object()}))

    def test_unicode_and_images(self):
        a = base_request(messages=[{"role": "user", "content": "héllo 🌍 \ud800"}])
        b = base_request(messages=[{"role": "user", "content": "hello"}])
        assert cache_key(**a) != cache_key(**b)
        data_url = "data:image/png;base64," + "A" * 50_000
        image = [{"type": "image_url", "image_url": {"url": data_url}}]
        assert len(cache_key(**base_request(messages=[{"role": "user", "content": image}]))) == 64

    def test_fast(self):
        request = base_request()
        cache_key(**request)
        start = time.perf_counter()
        for _ in range(2000):
            cache_key(**request)
        per_call = (time.perf_counter() - start) / 2000
        assert per_call < 200e-6  # typically ~10 us; loose bound for slow CI machines


# --- disk --------------------------------------------------------------------------------


@pytest.fixture
def disk(tmp_path):
    cache = DiskResponseCache(tmp_path / "responses")
    yield cache
    cache.close()


class TestDisk:
    def test_round_trip_and_miss(self, disk):
        key = cache_key(**base_request())
        assert disk.get(key) is None
        disk.set(key, answer())
        got = disk.get(key)
        assert got == answer()
        got["text"] = "mutated"  # a fresh dict each time
        assert disk.get(key) == answer()

    def test_stats(self, disk, tmp_path):
        disk.get("missing")
        disk.set("k1", answer())
        disk.set("k2", answer("other"))
        disk.get("k1")
        disk.get("k2")
        disk.get("k1")
        stats = disk.stats()
        assert isinstance(stats, CacheStats)
        assert (stats.hits, stats.misses, stats.entries) == (3, 1, 2)
        assert stats.bytes > 0
        assert stats.kind == "disk"
        assert stats.location == str(tmp_path / "responses")
        assert stats.hit_rate == 0.75
        assert "2 entries" in str(stats)

    def test_hits_and_misses_are_per_object(self, tmp_path):
        a = DiskResponseCache(tmp_path / "c")
        b = DiskResponseCache(tmp_path / "c")
        a.set("k", answer())
        a.get("k")
        assert (a.stats().hits, b.stats().hits) == (1, 0)
        assert b.stats().entries == 1
        a.close()
        b.close()

    def test_delete_and_clear(self, disk):
        for i in range(5):
            disk.set(f"k{i}", answer(str(i)))
        assert disk.delete("k0") is True
        assert disk.delete("k0") is False
        assert disk.clear() == 4
        assert disk.stats().entries == 0
        assert disk.get("k1") is None

    def test_ttl_expiry(self, tmp_path):
        cache = DiskResponseCache(tmp_path / "ttl", ttl=0.2)
        cache.set("k", answer())
        assert cache.get("k") == answer()
        time.sleep(0.3)
        assert cache.get("k") is None
        assert cache.stats().entries == 0
        cache.close()

    def test_size_limit_evicts_least_recently_stored(self, tmp_path):
        limit = 300_000
        cache = DiskResponseCache(tmp_path / "small", size_limit=limit)
        big = "x" * 40_000  # above diskcache's 32 KB threshold: stored as a file
        for i in range(40):
            cache.set(f"k{i:02d}", answer(big + str(i)))
        stats = cache.stats()
        assert stats.entries < 40
        assert stats.bytes < limit + 12 * 41_000
        assert cache.get("k00") is None
        assert cache.get("k39") == answer(big + "39")
        cache.close()

    def test_persists_across_reopen(self, tmp_path):
        directory = tmp_path / "persist"
        first = DiskResponseCache(directory)
        first.set("k", answer())
        first.close()
        second = DiskResponseCache(directory)
        assert second.get("k") == answer()
        second.close()

    def test_persists_across_processes(self, tmp_path):
        """A kernel restart: another interpreter writes, this one reads."""
        directory = tmp_path / "kernel"
        code = (
            "import sys; from llmdeck_nb.cache import DiskResponseCache; "
            "c = DiskResponseCache(sys.argv[1]); c.set('k', {'text': 'from the child'}); c.close()"
        )
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))  # fmt: skip
        subprocess.run([sys.executable, "-c", code, str(directory)], check=True, env=env)
        cache = DiskResponseCache(directory)
        assert cache.get("k") == {"text": "from the child"}
        cache.close()

    def test_secret_never_reaches_disk(self, tmp_path):
        redaction.register_secret(SENTINEL)
        directory = tmp_path / "secret"
        cache = DiskResponseCache(directory)
        small = answer(f"the key is {SENTINEL}", notes=[{"echo": SENTINEL}])
        large = answer("y" * 40_000 + SENTINEL)  # file-backed value
        cache.set("small", small)
        cache.set("large", large)
        assert SENTINEL not in json.dumps(cache.get("small"))
        assert redaction.REDACTED in cache.get("small")["text"]
        assert SENTINEL not in cache.get("large")["text"]
        cache.close()
        raw = raw_bytes_under(directory)
        assert raw  # the cache did write something
        assert SENTINEL.encode() not in raw
        assert SENTINEL.encode("utf-16-le") not in raw

    def test_values_are_json_text_not_pickle(self, disk):
        disk.set("k", answer())
        disk.close()
        with sqlite3.connect(disk.directory / "cache.db") as con:
            (stored,) = con.execute("SELECT value FROM Cache").fetchone()
        assert isinstance(stored, str)
        assert json.loads(stored) == answer()

    def test_foreign_or_corrupt_entries_are_misses(self, disk):
        disk._cache.set("pickled", {"text": "a pickled dict"})
        disk._cache.set("broken", "{not json")
        disk._cache.set("list", "[1, 2]")
        assert disk.get("pickled") is None
        assert disk.get("broken") is None
        assert disk.get("list") is None
        assert disk.stats().misses == 3

    def test_bad_values_are_cache_errors(self, disk):
        with pytest.raises(CacheError, match="must be a dict"):
            disk.set("k", ["not", "a", "dict"])  # type: ignore[arg-type]
        with pytest.raises(CacheError, match="not JSON-able"):
            disk.set("k", {"when": object()})

    def test_bad_options_are_cache_errors(self, tmp_path):
        with pytest.raises(CacheError, match="ttl"):
            DiskResponseCache(tmp_path, ttl=0)
        with pytest.raises(CacheError, match="size_limit"):
            DiskResponseCache(tmp_path, size_limit=-1)

    def test_unusable_directory_is_a_cache_error(self, tmp_path):
        blocker = tmp_path / "a-file"
        blocker.write_text("not a directory")
        with pytest.raises(CacheError, match="cannot open the response cache directory") as info:
            DiskResponseCache(blocker / "responses")
        assert "cache = false" in str(info.value)

    def test_threads(self, disk):
        def work(n):
            for i in range(50):
                disk.set(f"t{n}-{i}", answer(str(i)))
                assert disk.get(f"t{n}-{i}") == answer(str(i))

        threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = disk.stats()
        assert (stats.hits, stats.entries) == (300, 300)

    def test_context_manager(self, tmp_path):
        with DiskResponseCache(tmp_path / "cm") as cache:
            cache.set("k", answer())
        assert DiskResponseCache(tmp_path / "cm").get("k") == answer()

    def test_repr_names_the_directory(self, disk):
        assert "DiskResponseCache" in repr(disk) and "responses" in repr(disk)


# --- redis -------------------------------------------------------------------------------


def ns() -> str:
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def redis_cache(redis_server):
    from llmdeck_nb.cache import RedisResponseCache

    cache = RedisResponseCache(redis_server, namespace=ns())
    yield cache
    cache.clear()
    cache.close()


def raw_client(url):
    import redis

    return redis.Redis.from_url(url)


class TestRedis:
    def test_round_trip_miss_and_stats(self, redis_cache, redis_server):
        key = cache_key(**base_request())
        assert redis_cache.get(key) is None
        redis_cache.set(key, answer())
        redis_cache.set("k2", answer("other"))
        assert redis_cache.get(key) == answer()
        assert redis_cache.get("k2") == answer("other")
        stats = redis_cache.stats()
        assert (stats.hits, stats.misses, stats.entries) == (2, 1, 2)
        assert stats.bytes > 0
        assert stats.kind == "redis"
        assert stats.location == f"{redis_server} namespace={redis_cache.namespace}"
        assert redis_cache.delete(key) is True
        assert redis_cache.delete(key) is False
        assert redis_cache.stats().entries == 1

    def test_keys_are_namespaced_and_versioned(self, redis_cache, redis_server):
        redis_cache.set("abc", answer())
        stored = raw_client(redis_server).keys(f"{redis_cache.namespace}:*")
        assert stored == [f"{redis_cache.namespace}:v{CACHE_FORMAT_VERSION}:abc".encode()]
        assert json.loads(raw_client(redis_server).get(stored[0])) == answer()

    def test_namespace_isolation(self, redis_server):
        from llmdeck_nb.cache import RedisResponseCache

        a = RedisResponseCache(redis_server, namespace=ns())
        b = RedisResponseCache(redis_server, namespace=ns())
        foreign = f"{a.namespace}x:v1:k"  # a namespace that merely starts with a's name
        raw_client(redis_server).set(foreign, "{}")
        for i in range(3):
            a.set(f"k{i}", answer(f"a{i}"))
        b.set("k0", answer("b0"))
        assert a.get("k0") == answer("a0") and b.get("k0") == answer("b0")
        assert a.clear() == 3
        assert a.stats().entries == 0
        assert b.get("k0") == answer("b0")
        assert b.stats().entries == 1
        assert raw_client(redis_server).get(foreign) == b"{}"
        raw_client(redis_server).delete(foreign)
        b.clear()

    def test_clear_removes_old_format_versions_of_the_namespace(self, redis_cache, redis_server):
        old = f"{redis_cache.namespace}:v0:oldkey"
        raw_client(redis_server).set(old, "{}")
        redis_cache.set("k", answer())
        assert redis_cache.stats().entries == 2
        assert redis_cache.clear() == 2

    def test_clear_many(self, redis_cache):
        for i in range(1234):
            redis_cache.set(f"k{i}", {"i": i})
        assert redis_cache.stats().entries == 1234
        assert redis_cache.clear() == 1234

    def test_ttl(self, redis_server):
        from llmdeck_nb.cache import RedisResponseCache

        cache = RedisResponseCache(redis_server, ttl=0.2, namespace=ns())
        cache.set("k", answer())
        assert cache.get("k") == answer()
        time.sleep(0.35)
        assert cache.get("k") is None
        assert cache.stats().entries == 0

    def test_secret_never_stored(self, redis_cache, redis_server):
        redaction.register_secret(SENTINEL)
        redis_cache.set("k", answer(f"key={SENTINEL}"))
        raw = raw_client(redis_server).get(redis_cache.prefix + "k")
        assert SENTINEL.encode() not in raw

    def test_connection_error_hides_the_password(self):
        from llmdeck_nb.cache import RedisResponseCache

        port = free_port()  # nothing listens there
        url = f"redis://:{SENTINEL}@127.0.0.1:{port}/0"
        with pytest.raises(CacheError) as info:
            RedisResponseCache(url)
        message = str(info.value)
        assert SENTINEL not in message
        assert SENTINEL not in repr(info.value)
        assert f"127.0.0.1:{port}" in message
        assert "redis-server running" in message
        assert "check the host, port and db in the cache URL" in message

    def test_connection_error_hides_a_short_unregistered_password(self):
        from llmdeck_nb.cache import RedisResponseCache

        port = free_port()
        with pytest.raises(CacheError) as info:
            RedisResponseCache(f"redis://alice:hunter2x@127.0.0.1:{port}/0")
        assert "hunter2x" not in str(info.value)
        assert "alice" in str(info.value)

    def test_server_going_away_is_a_cache_error(self, tmp_path):
        from redis_server import start_redis

        from llmdeck_nb.cache import RedisResponseCache

        try:
            server = start_redis(tmp_path / "short-lived")
        except FileNotFoundError:
            pytest.skip("redis-server not installed")
        cache = RedisResponseCache(f"redis://127.0.0.1:{server.port}/0", namespace=ns())
        cache.set("k", answer())
        server.stop()
        with pytest.raises(CacheError, match="read failed"):
            cache.get("k")

    def test_password_server(self, redis_server_auth):  # noqa: F811
        from llmdeck_nb.cache import RedisResponseCache

        cache = RedisResponseCache(redis_server_auth.url, namespace=ns())
        cache.set("k", answer())
        assert cache.get("k") == answer()
        stats = cache.stats()
        assert redis_server_auth.password not in stats.location
        assert redis_server_auth.password not in repr(cache)
        assert redaction.REDACTED in stats.location
        cache.clear()
        cache.close()

        wrong = f"redis://:wrong-password-0123@127.0.0.1:{redis_server_auth.port}/0"
        with pytest.raises(CacheError) as info:
            RedisResponseCache(wrong)
        assert "wrong-password-0123" not in str(info.value)
        assert "password" in str(info.value)
        no_password = f"redis://127.0.0.1:{redis_server_auth.port}/0"
        with pytest.raises(CacheError, match="credentials"):
            RedisResponseCache(no_password)

    def test_bad_namespace(self, redis_server):
        from llmdeck_nb.cache import RedisResponseCache

        for bad in ("", "a*", "team:x", "a b", "x" * 101):
            with pytest.raises(CacheError, match="namespace"):
                RedisResponseCache(redis_server, namespace=bad)


@pytest.mark.parametrize(
    "url, expected",
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:pw123456@h:6379/0", "redis://:[redacted]@h:6379/0"),
        ("redis://user:pw123456@h:6379", "redis://user:[redacted]@h:6379"),
        ("rediss://user:p@ss:w0rd@h/1", "rediss://user:[redacted]@h/1"),
        ("redis://user@h:6379/0", "redis://user@h:6379/0"),
        ("redis://h:6379/0?password=pw123456&db=2", "redis://h:6379/0?password=[redacted]&db=2"),
        ("unix://:pw123456@/tmp/redis.sock?db=0", "unix://:[redacted]@/tmp/redis.sock?db=0"),
        ("unix:///tmp/redis.sock?password=pw123456", "unix:///tmp/redis.sock?password=[redacted]"),
    ],
)
def test_redact_url(url, expected):
    from llmdeck_nb.cache.redis import redact_url

    assert redact_url(url) == expected


# --- open_cache --------------------------------------------------------------------------


class TestOpenCache:
    def test_none_and_true_use_default_dir(self, tmp_path):
        for spec in (None, True):
            cache = open_cache(spec, default_dir=tmp_path / "d")
            assert isinstance(cache, DiskResponseCache)
            assert cache.directory == tmp_path / "d"
            cache.close()

    def test_none_without_default_dir_uses_the_user_cache_dir(self, tmp_path, monkeypatch):
        monkeypatch.delenv("LLMDECK_CACHE_DIR", raising=False)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        cache = open_cache(None)
        assert isinstance(cache, DiskResponseCache)
        assert cache.directory == tmp_path / "xdg" / "llmdeck_nb" / "responses"
        cache.close()

    def test_llmdeck_cache_dir_variable_moves_the_default(self, tmp_path, monkeypatch):
        monkeypatch.setenv("LLMDECK_CACHE_DIR", str(tmp_path / "state"))
        cache = open_cache(None)
        assert cache.directory == tmp_path / "state" / "responses"
        cache.close()

    def test_false_is_off(self):
        assert open_cache(False) is None

    def test_switch_words(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        for word in ("off", "False", "no", "NONE", "disabled", " off "):
            assert open_cache(word) is None
        for word in ("on", "TRUE", "yes", "default"):
            cache = open_cache(word, default_dir=tmp_path / "dflt")
            assert cache.directory == tmp_path / "dflt"
            cache.close()
        cache = open_cache("./off")
        assert cache.directory == Path("off")
        cache.close()
        assert not (tmp_path / "false").exists()

    def test_path_forms(self, tmp_path, monkeypatch):
        for spec in (str(tmp_path / "s"), tmp_path / "p"):
            cache = open_cache(spec)
            assert isinstance(cache, DiskResponseCache)
            assert cache.directory == Path(spec)
            cache.close()
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        cache = open_cache("~/llm-cache")
        assert cache.directory == tmp_path / "home" / "llm-cache"
        cache.close()

    def test_disk_table(self, tmp_path):
        cache = open_cache({"directory": str(tmp_path / "t"), "ttl": 60, "size_limit": 10**7})
        assert isinstance(cache, DiskResponseCache)
        assert (cache.directory, cache.ttl, cache.size_limit) == (tmp_path / "t", 60.0, 10**7)
        cache.close()
        cache = open_cache({"ttl": 5}, default_dir=tmp_path / "dflt")
        assert (cache.directory, cache.ttl) == (tmp_path / "dflt", 5.0)
        cache.close()

    def test_redis_forms(self, redis_server):
        from llmdeck_nb.cache import RedisResponseCache

        cache = open_cache(redis_server)
        assert isinstance(cache, RedisResponseCache)
        assert cache.namespace == "llmdeck" and cache.ttl is None
        cache.close()
        cache = open_cache({"url": redis_server, "ttl": 3600, "namespace": "team_x"})
        assert isinstance(cache, RedisResponseCache)
        assert (cache.namespace, cache.ttl) == ("team_x", 3600.0)
        assert cache.prefix == f"team_x:v{CACHE_FORMAT_VERSION}:"
        cache.close()

    def test_rediss_and_unix_urls_go_to_redis(self):
        # Nothing listens on these: the point is that they are routed to Redis, not disk.
        port = free_port()
        for url in (f"rediss://127.0.0.1:{port}/0", "unix:///nonexistent/redis.sock"):
            with pytest.raises(CacheError, match="Redis response cache"):
                open_cache(url)

    def test_cache_object_is_returned_as_is(self, disk):
        assert open_cache(disk) is disk

    @pytest.mark.parametrize(
        "spec, match",
        [
            (42, "cannot make a response cache from 42"),
            ("", "empty string"),
            ([1, 2], "cannot make a response cache"),
            ({"foo": 1}, "unknown key"),
            ({"url": "http://example.com"}, "must start with redis://"),
            ({"url": "redis://127.0.0.1/0", "size_limit": 10}, "unknown key"),
            ({"directory": 3}, "must be a path"),
            ({"ttl": -1}, "ttl"),
        ],
    )
    def test_wrong_forms(self, spec, match, tmp_path):
        with pytest.raises(CacheError, match=match) as info:
            open_cache(spec, default_dir=tmp_path)
        if match.startswith("cannot make") or match == "empty string":
            assert "redis://" in str(info.value) and "false" in str(info.value)

    def test_errors_never_show_a_url_password(self):
        spec = {"url": f"redis://:{SENTINEL}@127.0.0.1:1/0", "bogus": 1}
        with pytest.raises(CacheError) as info:
            open_cache(spec)
        assert SENTINEL not in str(info.value)

    def test_response_cache_is_abstract(self):
        with pytest.raises(TypeError):
            ResponseCache()  # type: ignore[abstract]


def test_import_is_light():
    code = (
        "import sys, llmdeck_nb; before = set(sys.modules); "
        "import llmdeck_nb.cache as c; "
        "heavy = ('redis', 'diskcache', 'platformdirs', 'sqlite3'); "
        "heavy = [m for m in heavy if m in sys.modules and m not in before]; "
        "assert not heavy, heavy; "
        "c.RedisResponseCache; assert 'redis' not in sys.modules"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
