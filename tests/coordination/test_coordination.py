"""The Redis client, bus and lock against a real redis-server on 127.0.0.1."""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from firstline.coordination import Coordination, LockTimeoutError, RedisUnavailableError
from firstline.errors import BackendUnavailableError, ConfigError
from firstline.scale_settings import ScaleSettings
from firstline.testing.live import free_port
from firstline.testing.redis import RedisServer, redis_server

pytestmark = pytest.mark.live


@pytest.fixture
def coordination(redis: RedisServer) -> Iterator[Coordination]:
    with Coordination(redis.url, prefix=f"t{uuid.uuid4().hex[:8]}") as made:
        yield made


def test_settings_without_redis_give_no_coordination() -> None:
    assert Coordination.from_settings(ScaleSettings()) is None


def test_settings_with_redis_give_a_prefixed_client(redis: RedisServer) -> None:
    made = Coordination.from_settings(ScaleSettings(redis_url=redis.url, key_prefix="acme"))
    assert made is not None
    with made:
        made.check()
        assert made.key("limits", "ip", "x") == "acme:limits:ip:x"
        made.client.set(made.key("probe"), "1", px=5000)
        assert made.client.get("acme:probe") == "1"


def test_redis_down_is_a_clear_error_naming_the_url() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with Coordination(url, timeout_s=0.5) as made, pytest.raises(RedisUnavailableError) as caught:
        made.check()
    assert isinstance(caught.value, BackendUnavailableError)
    assert url in str(caught.value) and "scale.redis_url" in str(caught.value)


def test_an_empty_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"scale\.redis_url"):
        Coordination("")


def test_bus_delivers_json_to_every_subscriber_in_order(coordination: Coordination, redis: RedisServer) -> None:
    heard_a: queue.Queue[dict[str, Any]] = queue.Queue()
    heard_b: queue.Queue[dict[str, Any]] = queue.Queue()
    with Coordination(redis.url, prefix=coordination.prefix) as other:  # "another worker"
        first = coordination.bus().subscribe("news", heard_a.put)
        second = other.bus().subscribe("news", heard_b.put)
        try:
            assert first.wait_connected(5) and second.wait_connected(5)
            for n in range(5):
                assert coordination.bus().publish("news", {"n": n, "text": "héllo"}) == 2
            for heard in (heard_a, heard_b):
                assert [heard.get(timeout=5) for _ in range(5)] == [{"n": n, "text": "héllo"} for n in range(5)]
        finally:
            first.stop()
            second.stop()
    assert not first.connected.is_set()


def test_bus_skips_bad_messages_and_failing_callbacks(coordination: Coordination) -> None:
    heard: queue.Queue[dict[str, Any]] = queue.Queue()

    def callback(payload: dict[str, Any]) -> None:
        if payload.get("boom"):
            raise RuntimeError("listener broke")
        heard.put(payload)

    subscription = coordination.bus().subscribe("mixed", callback)
    try:
        assert subscription.wait_connected(5)
        coordination.client.publish(coordination.key("mixed"), "not json")
        coordination.client.publish(coordination.key("mixed"), "[1, 2]")
        coordination.bus().publish("mixed", {"boom": True})
        coordination.bus().publish("mixed", {"ok": 1})
        assert heard.get(timeout=5) == {"ok": 1}
    finally:
        subscription.stop()


def test_bus_subscriber_reconnects_after_a_redis_restart(caplog: pytest.LogCaptureFixture) -> None:
    heard: queue.Queue[dict[str, Any]] = queue.Queue()
    with redis_server() as own, Coordination(own.url, prefix="restart") as made:
        subscription = made.bus().subscribe("events", heard.put, max_backoff_s=0.2)
        try:
            assert subscription.wait_connected(5)
            made.bus().publish("events", {"before": 1})
            assert heard.get(timeout=5) == {"before": 1}
            with caplog.at_level(logging.WARNING, logger="firstline.coordination.bus"):
                own.restart()
                deadline = time.monotonic() + 10
                while subscription.reconnects == 0 and time.monotonic() < deadline:
                    time.sleep(0.02)
            assert subscription.reconnects >= 1 and subscription.wait_connected(5)
            assert "lost Redis" in caplog.text
            made.bus().publish("events", {"after": 2})
            assert heard.get(timeout=5) == {"after": 2}
        finally:
            subscription.stop()


def test_publish_with_redis_down_raises_the_clear_error() -> None:
    down = Coordination(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.5)
    with down, pytest.raises(RedisUnavailableError, match=r"redis://127\.0\.0\.1"):
        down.bus().publish("x", {"a": 1})


def test_lock_is_exclusive_across_clients(coordination: Coordination, redis: RedisServer) -> None:
    with Coordination(redis.url, prefix=coordination.prefix) as other:
        mine, theirs = coordination.lock("ingest"), other.lock("ingest")
        assert mine.acquire(blocking=False)
        assert not theirs.acquire(blocking=False)
        started = time.monotonic()
        assert not theirs.acquire(timeout_s=0.3)
        assert time.monotonic() - started >= 0.25
        assert mine.release()
        assert theirs.acquire(blocking=False)
        theirs.release()


def test_lock_serialises_work_of_many_threads(coordination: Coordination) -> None:
    inside, overlaps, done = [0], [0], []
    guard = threading.Lock()

    def work(n: int) -> None:
        with coordination.lock("seed").held(timeout_s=10):
            with guard:
                inside[0] += 1
                overlaps[0] = max(overlaps[0], inside[0])
            time.sleep(0.02)
            with guard:
                inside[0] -= 1
            done.append(n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(done) == list(range(6)) and overlaps[0] == 1


def test_lock_expires_when_its_holder_stops_renewing(coordination: Coordination, redis: RedisServer) -> None:
    # A holder that died: the key is set as acquire sets it, but no thread renews it.
    coordination.client.set(coordination.key("lock", "crashed"), "dead-holder", nx=True, px=300)
    waiter = coordination.lock("crashed")
    assert not waiter.acquire(blocking=False)
    assert waiter.acquire(timeout_s=5)
    waiter.release()


def test_lock_is_renewed_while_held(coordination: Coordination) -> None:
    lock = coordination.lock("long", ttl_s=0.3)
    assert lock.acquire(blocking=False)
    try:
        time.sleep(0.9)  # three times the expiry: only renewal keeps it
        assert not coordination.lock("long").acquire(blocking=False)
        assert not lock.lost.is_set()
    finally:
        assert lock.release()


def test_only_the_owner_releases(coordination: Coordination) -> None:
    mine = coordination.lock("owned", ttl_s=0.2)
    assert mine.acquire(blocking=False)
    mine._stop_renewing.set()  # as if this holder stalled past its expiry
    time.sleep(0.35)
    theirs = coordination.lock("owned")
    assert theirs.acquire(blocking=False)
    assert mine.release() is False  # the key holds their token now: ours must not delete it
    assert coordination.client.get(theirs.key) is not None
    assert theirs.release()
    assert coordination.client.get(theirs.key) is None


def test_held_raises_a_clear_timeout(coordination: Coordination) -> None:
    waiting = coordination.lock("busy").held(timeout_s=0.1)
    with coordination.lock("busy").held(), pytest.raises(LockTimeoutError, match="busy"), waiting:
        pytest.fail("the second holder got in")


def test_lock_with_redis_down_raises_the_clear_error() -> None:
    down = Coordination(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.5)
    with down, pytest.raises(RedisUnavailableError):
        down.lock("x").acquire(blocking=False)
