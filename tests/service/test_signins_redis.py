"""Failed sign-ins counted in Redis: every worker sees one count per account; Redis down -> counted locally."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from firstline.coordination import Coordination
from firstline.service.app import create_app
from firstline.service.signins_redis import RedisSignInThrottle
from firstline.settings import load_settings
from firstline.testing.live import free_port
from firstline.testing.redis import RedisServer

pytestmark = pytest.mark.live


@pytest.fixture
def workers(redis: RedisServer) -> Iterator[tuple[RedisSignInThrottle, RedisSignInThrottle]]:
    """Two workers' throttles over one deployment's Redis (same prefix, separate clients)."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    with Coordination(redis.url, prefix=prefix) as one, Coordination(redis.url, prefix=prefix) as two:
        throttles = (RedisSignInThrottle(one, allowed=3, delay_s=10), RedisSignInThrottle(two, allowed=3, delay_s=10))
        yield throttles
        for throttle in throttles:
            throttle.close()


def test_guesses_spread_over_workers_are_counted_once(workers: tuple[RedisSignInThrottle, RedisSignInThrottle]) -> None:
    one, two = workers
    assert [one.claim("ruby.chen@x.co.uk"), two.claim("Ruby.Chen@X.co.uk "), one.claim("ruby.chen@x.co.uk")] == [0] * 3
    assert two.failures("ruby.chen@x.co.uk") == 3
    wait = two.claim("ruby.chen@x.co.uk")  # the fourth, on the other worker, must wait the first delay
    assert 9.0 < wait <= 10.0 and 9.0 < one.wait("ruby.chen@x.co.uk") <= 10.0 and one.seconds("ruby.chen@x.co.uk") == 10
    assert one.claim("marcus.bell@x.co.uk") == 0  # another account counts on its own
    one.succeeded("ruby.chen@x.co.uk")
    assert two.failures("ruby.chen@x.co.uk") == 0 and two.claim("ruby.chen@x.co.uk") == 0


def test_refund_takes_back_one_attempt_and_its_wait(workers: tuple[RedisSignInThrottle, RedisSignInThrottle]) -> None:
    one, two = workers
    for _ in range(3):
        assert one.claim("a@x") == 0
    assert two.wait("a@x") > 9  # the third failure started the first wait
    two.refund("a@x")  # that attempt got no answer (the database was down)
    assert one.failures("a@x") == 2 and one.wait("a@x") == 0


def test_the_count_is_forgotten_after_the_window(redis: RedisServer) -> None:
    with Coordination(redis.url, prefix=f"t{uuid.uuid4().hex[:8]}") as shared:
        throttle = RedisSignInThrottle(shared, allowed=1, delay_s=0.2, window_s=0.5)
        try:
            assert throttle.claim("b@x") == 0
            assert throttle.wait("b@x") > 0
            key = throttle._key("b@x")
            assert 0 < shared.client.pttl(key) <= 1800  # expires when it would be forgotten
            time.sleep(0.8)
            assert throttle.failures("b@x") == 0 and throttle.claim("b@x") == 0
        finally:
            throttle.close()


def test_redis_down_counts_in_this_process_rather_than_letting_guesses_through() -> None:
    with Coordination(f"redis://127.0.0.1:{free_port()}/0", prefix="down") as nowhere:
        throttle = RedisSignInThrottle(nowhere, allowed=2, delay_s=10)
        try:
            assert [throttle.claim("c@x"), throttle.claim("c@x")] == [0, 0]
            assert throttle.claim("c@x") > 9  # refused without looking at the password, as one process would
            assert throttle.failures("c@x") == 2
        finally:
            throttle.close()


def test_the_app_counts_sign_in_failures_in_redis_when_workers_share_it(
    redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    apps = []
    for _ in range(2):
        settings = load_settings(
            data_dir=tmp_path_factory.mktemp("data"),
            scale={"redis_url": redis.url, "key_prefix": prefix},
            service={"login_failures_allowed": 2, "seed_demo_accounts": False},
        )
        apps.append(create_app(settings))
    first, second = (app.state.signins for app in apps)
    assert isinstance(first, RedisSignInThrottle)
    assert first.claim("ruby.chen@x.co.uk") == 0 and second.claim("ruby.chen@x.co.uk") == 0
    assert first.claim("ruby.chen@x.co.uk") > 0  # the third attempt, whichever worker took the first two
    for throttle in (first, second):
        throttle.close()
