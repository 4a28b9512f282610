"""One model-I/O loop per process: clients made once per endpoint and shared by turns on any thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from firstline.llm.messages import ChatRequest, Message
from firstline.llm.openai_compat import OpenAICompatModel
from firstline.llm.pool import ModelIO
from firstline.testing.openai_server import FakeOpenAIServer, Turn

REQUEST = ChatRequest((Message("user", "hello"),))


def test_turns_on_many_threads_share_one_client_per_endpoint() -> None:
    io = ModelIO()
    with FakeOpenAIServer(default=Turn(text="hi there")) as a, FakeOpenAIServer(default=Turn(text="other")) as b:
        first = OpenAICompatModel("m", base_url=a.url, io=io)
        again = OpenAICompatModel("m", base_url=a.url, io=io, name="same endpoint, another role")
        other = OpenAICompatModel("m", base_url=b.url, io=io)
        replies: list[str] = []

        def turn() -> None:  # what the service does: a worker thread, a fresh event loop per turn
            async def go() -> None:
                replies.append((await first.complete(REQUEST)).text)
                replies.append((await again.complete(REQUEST)).text)
                streamed = [x async for x in other.stream(REQUEST) if isinstance(x, str)]
                replies.append("".join(streamed).strip())

            asyncio.run(go())

        threads = [threading.Thread(target=turn) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(set(replies)) == ["hi there", "other"] and len(replies) == 18
        assert io.created == 2 and io.clients == 2  # one per endpoint for all 18 calls on 6 loops
    io.close()
    assert not io.running and io.clients == 0
    io.close()  # twice is fine


def test_a_reader_that_stops_early_cancels_the_producer() -> None:
    io = ModelIO()
    stopped = threading.Event()

    async def numbers() -> AsyncIterator[int]:
        try:
            for n in range(1000):
                yield n
                await asyncio.sleep(0.01)
        finally:
            stopped.set()

    async def read_two() -> list[int]:
        got = []
        stream = io.stream(numbers)
        async for n in stream:
            got.append(n)
            if len(got) == 2:
                break
        await stream.aclose()  # type: ignore[attr-defined]
        return got

    assert asyncio.run(read_two()) == [0, 1]
    assert stopped.wait(2)
    io.close()


def test_errors_cross_back_to_the_caller_and_calls_on_the_io_loop_run_directly() -> None:
    io = ModelIO()

    async def boom() -> int:
        raise ValueError("model said no")

    with pytest.raises(ValueError, match="model said no"):
        asyncio.run(io.call(boom))

    async def where() -> bool:
        return io.on_loop()

    assert asyncio.run(io.call(where)) is True
    assert asyncio.run(where()) is False
    io.close()
