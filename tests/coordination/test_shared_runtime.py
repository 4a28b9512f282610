"""Two runtimes on one Redis behave as two workers: live notices and the demo phone cross between them."""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from firstline.conversations.hub import Hub, Notice, notice_from_json, notice_to_json
from firstline.coordination import RedisUnavailableError
from firstline.runtime import Runtime
from firstline.settings import load_settings
from firstline.testing.live import free_port
from firstline.testing.redis import RedisServer

pytestmark = pytest.mark.live

RUBY = "ruby.chen@nwmeridian.co.uk"


def _runtime(folder: Path, redis_url: str, prefix: str) -> Runtime:
    database = f"sqlite:///{folder / 'shared.db'}"  # one database, as workers share PostgreSQL
    settings = load_settings(
        data_dir=folder / uuid.uuid4().hex,
        ticketing={"database_url": database},
        scale={"redis_url": redis_url, "key_prefix": prefix},
    )
    return Runtime(settings)


@pytest.fixture
def two_workers(tmp_path: Path, redis: RedisServer) -> Iterator[tuple[Runtime, Runtime]]:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    with _runtime(tmp_path, redis.url, prefix) as one, _runtime(tmp_path, redis.url, prefix) as two:
        yield one, two


def test_notices_round_trip_through_json() -> None:
    notice = Notice("c1", 3, "assistant_message", "network", RUBY, datetime(2026, 12, 5, 9, 30, 1, 250, UTC),
                    {"text": "Try this", "ticket": {"number": "INC0000001"}, "n": [1, 2]})  # fmt: skip
    assert notice_from_json(notice_to_json(notice)) == notice
    with pytest.raises((KeyError, ValueError)):
        notice_from_json({"seq": 1})


def test_without_redis_everywhere_is_this_process() -> None:
    hub = Hub()
    local: list[str] = []
    everywhere: list[str] = []
    hub.subscribe(lambda n: local.append(n.kind))
    hub.subscribe_everywhere(lambda n: everywhere.append(n.kind))
    hub.ticket_changed("INC0000001", "sarah")
    hub.heard_remote(Notice("c", 1, "user_message", "user", None, datetime.now(UTC)))
    assert local == ["ticket"] and everywhere == ["ticket", "user_message"]


def test_a_notice_stored_by_one_worker_reaches_every_workers_streams(two_workers: tuple[Runtime, Runtime]) -> None:
    one, two = two_workers
    streams_one: queue.Queue[Notice] = queue.Queue()
    streams_two: queue.Queue[Notice] = queue.Queue()
    side_effects_two: list[Notice] = []
    one.conversations.hub.subscribe_everywhere(streams_one.put)
    two.conversations.hub.subscribe_everywhere(streams_two.put)
    two.conversations.hub.subscribe(side_effects_two.append)  # e-mail, Slack: only where the event was stored
    assert one._sharing is not None and two._sharing is not None
    assert one._sharing.wait_connected(5) and two._sharing.wait_connected(5)

    conversation = one.conversations.create(RUBY, channel="web")
    one.conversations.append(conversation.id, "user_message", "user", {"text": "my vpn drops"})
    heard = streams_two.get(timeout=5)
    assert (heard.conversation_id, heard.seq, heard.kind, heard.requester) == (conversation.id, 1, "user_message", RUBY)
    assert heard.data == {"text": "my vpn drops"} and heard.created_at.tzinfo is not None
    assert streams_one.get(timeout=1).seq == 1  # the storing worker's own streams, once
    two.conversations.hub.ticket_changed("INC0000007", "sarah.lindqvist@nwmeridian.co.uk", RUBY)
    assert streams_one.get(timeout=5).data == {"ticket": "INC0000007"}
    assert streams_two.get(timeout=1).kind == "ticket"
    assert streams_two.empty() and streams_one.empty()  # nobody hears their own notice twice
    assert [n.kind for n in side_effects_two] == ["ticket"]  # worker one's event caused no side effect here


def test_a_code_sent_on_one_worker_shows_on_the_others_phone(two_workers: tuple[Runtime, Runtime]) -> None:
    one, two = two_workers
    for n in range(7):
        one.outbox.deliver("Ruby.Chen@nwmeridian.co.uk", f"00000{n}", "sms")
    shown = two.outbox.messages(RUBY)
    assert [m["code"] for m in shown] == ["000006", "000005", "000004", "000003", "000002"]  # newest first, 5 kept
    assert shown[0]["channel"] == "sms"
    assert one.coordination is not None
    key = one.coordination.key("outbox", RUBY)
    assert 0 < one.coordination.client.ttl(key) <= 600  # the code's lifetime
    assert two.outbox.messages("marcus.bell@nwmeridian.co.uk") == []


def test_a_runtime_whose_redis_is_down_says_so(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with _runtime(tmp_path, url, "down") as runtime, pytest.raises(RedisUnavailableError, match=r"scale\.redis_url"):
        runtime.coordination  # noqa: B018
