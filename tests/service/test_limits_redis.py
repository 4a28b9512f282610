"""Rate limits kept in Redis: one budget for every worker, Redis's clock, failing open when Redis fails."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from firstline.coordination import Coordination
from firstline.service.app import create_app
from firstline.service.limits import BREAKER_S, RedisTokenBuckets
from firstline.settings import load_settings
from firstline.testing.live import free_port
from firstline.testing.redis import RedisServer

pytestmark = pytest.mark.live


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def workers(redis: RedisServer) -> Iterator[tuple[Coordination, Coordination]]:
    """Two processes' connections to one deployment's Redis (same prefix, separate clients)."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    with Coordination(redis.url, prefix=prefix) as one, Coordination(redis.url, prefix=prefix) as two:
        yield one, two


def test_two_workers_spend_one_budget(workers: tuple[Coordination, Coordination]) -> None:
    one, two = (RedisTokenBuckets(c, "ip", per_minute=4) for c in workers)
    try:
        assert [one.take("10.0.0.1"), two.take("10.0.0.1"), one.take("10.0.0.1"), two.take("10.0.0.1")] == [0] * 4
        assert two.take("10.0.0.1") > 0 and one.take("10.0.0.1") > 0  # the fifth, on either worker
        assert one.take("10.0.0.2") == 0  # another key has its own bucket
    finally:
        one.close()
        two.close()


def test_wait_is_fractional_and_buckets_expire(workers: tuple[Coordination, Coordination]) -> None:
    coordination = workers[0]
    buckets = RedisTokenBuckets(coordination, "credential", per_minute=120)  # two a second
    try:
        assert all(buckets.take("k") == 0 for _ in range(120))
        key = coordination.key("limits", "credential", "k")
        seconds, micros = coordination.client.time()  # empty now by Redis's clock (taking 120 took a while)
        coordination.client.hset(key, mapping={"tokens": "0", "stamp": str(seconds + micros / 1e6)})
        wait = buckets.take("k")
        assert 0.3 < wait <= 0.5 and wait != round(wait)  # half a second for the next token, not a whole one
        assert 0 < coordination.client.ttl(key) <= buckets.expire_s == 61
    finally:
        buckets.close()


def test_refill_follows_redis_time_not_the_workers_clock(workers: tuple[Coordination, Coordination]) -> None:
    coordination = workers[0]
    clock = FakeClock()  # a worker whose clock never moves
    buckets = RedisTokenBuckets(coordination, "ip", per_minute=60, clock=clock)
    key = coordination.key("limits", "ip", "a")
    try:
        seconds, micros = coordination.client.time()
        redis_now = seconds + micros / 1e6
        # Empty 30 s ago by Redis's clock: 30 tokens have come back since, whatever the worker's clock says.
        coordination.client.hset(key, mapping={"tokens": "0", "stamp": str(redis_now - 30)})
        assert all(buckets.take("a") == 0 for _ in range(29))
        stamp = float(coordination.client.hget(key, "stamp") or 0)
        assert abs(stamp - redis_now) < 5  # the stored stamp is Redis's TIME
        assert buckets.take("a") == 0 and buckets.take("a") > 0
    finally:
        buckets.close()


def test_redis_down_fails_open_with_an_error_and_a_breaker(caplog: pytest.LogCaptureFixture) -> None:
    errors: list[Exception] = []
    clock = FakeClock()
    with Coordination(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.5) as down:
        buckets = RedisTokenBuckets(down, "ip", per_minute=1, on_error=errors.append, clock=clock)
        assert [buckets.take("x") for _ in range(3)] == [0, 0, 0]  # let through, not refused
        assert len(errors) == 1  # then the breaker skips Redis
        assert "rate limit check failed" in caplog.text
        clock.now += BREAKER_S + 0.1
        assert buckets.take("x") == 0 and len(errors) == 2  # tried again after the breaker
        buckets.close()


def _app_client(tmp_path_factory: pytest.TempPathFactory, redis_url: str, prefix: str, per_minute: int) -> TestClient:
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("data"),
        scale={"redis_url": redis_url, "key_prefix": prefix},
        service={"ip_rate_limit_per_minute": per_minute, "seed_demo_accounts": False},
    )
    return TestClient(create_app(settings))  # no lifespan: the middleware needs none


def test_two_app_workers_share_the_ip_limit(redis: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    first = _app_client(tmp_path_factory, redis.url, prefix, 4)
    second = _app_client(tmp_path_factory, redis.url, prefix, 4)
    answers = [client.get("/login").status_code for client in (first, second, first, second)]
    assert answers == [200] * 4
    refused = second.get("/login")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert first.get("/login").status_code == 429
    assert first.get("/health").status_code == 200  # never limited


def test_an_app_whose_redis_is_down_answers_and_counts_it(tmp_path_factory: pytest.TempPathFactory) -> None:
    client = _app_client(tmp_path_factory, f"redis://127.0.0.1:{free_port()}/0", "down", 1)
    assert [client.get("/login").status_code for _ in range(3)] == [200, 200, 200]
    metrics = client.get("/metrics").text
    assert "firstline_rate_limit_errors_total 1.0" in metrics
