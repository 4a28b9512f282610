"""One event loop for model I/O per process, and one pooled HTTP client per endpoint on it.

A helpdesk turn runs on a worker thread in an event loop of its own (the offline engine is CPU-bound
and the stores are synchronous), and an HTTP client's connections belong to the loop that opened
them. So model clients do not live in turns: they live on :class:`ModelIO`'s loop, a daemon thread
started on first use, and every model call is sent there. A client is created once per endpoint
(``key``) and kept for the life of the process — keep-alive connections, HTTP/2 where a server
offers it over TLS — and :meth:`ModelIO.close` closes them all at shutdown.

A call made from any other loop hops to the I/O loop and back (tens of microseconds); a call made on
the I/O loop itself runs directly. Streams cross the same way, item by item, and a caller that stops
reading (a client went away, a budget ran out) cancels the producer on the I/O loop. Turns themselves
run on :class:`LoopThreads`: worker threads that each keep one event loop for their lifetime, so a turn
does not pay for a new loop (``asyncio.run``) either.
"""

from __future__ import annotations

import abc
import asyncio
import atexit
import logging
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["LoopThreads", "ModelIO", "PooledCalls", "http_options"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_END = object()


def http_options(timeout_s: float, *, max_connections: int = 64) -> dict[str, Any]:
    """Keyword arguments for a model SDK's pooled ``httpx2`` client (``openai.DefaultAsyncHttpxClient(**...)``):
    keep-alive connections kept two minutes, HTTP/2 offered over TLS when ``h2`` is installed."""
    import httpx2

    try:
        import h2  # noqa: F401  (httpx2's HTTP/2 support)

        http2 = True
    except ImportError:  # pragma: no cover - h2 ships with the install; HTTP/1.1 keep-alive still pools
        http2 = False
    return {
        "http2": http2,
        "timeout": httpx2.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
        "limits": httpx2.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections, keepalive_expiry=120.0
        ),
    }


class ModelIO:
    """The process's model-I/O loop and its clients (see the module docstring)."""

    _default: ModelIO | None = None
    _default_lock = threading.Lock()

    def __init__(self, name: str = "firstline-model-io") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._clients: dict[Hashable, Any] = {}
        self._closers: dict[Hashable, Callable[[Any], Awaitable[None]]] = {}
        self.created = 0  # clients made over the life of this object (a test reads it)

    @classmethod
    def default(cls) -> ModelIO:
        """A process-wide instance for models built outside a ``Runtime`` (closed at exit)."""
        with cls._default_lock:
            if cls._default is None or cls._default._pid not in (0, os.getpid()):
                cls._default = ModelIO("firstline-model-io-default")
                atexit.register(cls._default.close)
            return cls._default

    # -- the loop --------------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The I/O loop, started on first use (and again in a forked child, which has no thread)."""
        with self._lock:
            if self._loop is None or self._pid != os.getpid() or not self._loop.is_running():
                self._start()
            assert self._loop is not None
            return self._loop

    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        thread = threading.Thread(target=run, name=self.name, daemon=True)
        thread.start()
        ready.wait()
        self._loop, self._thread, self._pid = loop, thread, os.getpid()
        self._clients.clear()  # clients of another loop (a fork) cannot be used on this one
        self._closers.clear()

    def on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    # -- clients ---------------------------------------------------------------------------------

    def client(
        self,
        key: Hashable,
        factory: Callable[[], T],
        closer: Callable[[T], Awaitable[None]] | None = None,
    ) -> T:
        """The client for ``key``, made by ``factory`` the first time (call on the I/O loop)."""
        found = self._clients.get(key)
        if found is None:
            found = self._clients[key] = factory()
            self.created += 1
            if closer is not None:
                self._closers[key] = closer
        return found

    @property
    def clients(self) -> int:
        return len(self._clients)

    # -- calls -----------------------------------------------------------------------------------

    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run ``make()`` on the I/O loop and return its result here."""
        if self.on_loop():
            return await make()
        future: Future[T] = asyncio.run_coroutine_threadsafe(_awaited(make), self.loop)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()
            raise

    async def stream(self, make: Callable[[], AsyncIterator[T]]) -> AsyncIterator[T]:
        """Iterate ``make()`` on the I/O loop and yield its items here, as they come."""
        if self.on_loop():
            async for item in make():
                yield item
            return
        here = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()

        def put(item: Any) -> None:
            here.call_soon_threadsafe(queue.put_nowait, item)

        async def produce() -> None:
            try:
                async for item in make():
                    put(item)
            except BaseException as exc:  # handed to the reader, cancellation included
                put(_Failure(exc))
            else:
                put(_END)

        future = asyncio.run_coroutine_threadsafe(produce(), self.loop)
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise item.exc
                yield item
        finally:
            if not future.done():
                future.cancel()  # the reader stopped early: stop reading from the model

    # -- shutdown --------------------------------------------------------------------------------

    def close(self, timeout_s: float = 5.0) -> None:
        """Close every client (their connections) and stop the loop; safe to call twice."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None or self._pid != os.getpid() or not loop.is_running():
            self._clients.clear()
            return

        async def close_all() -> None:
            for key, client in list(self._clients.items()):
                closer = self._closers.get(key)
                try:
                    if closer is not None:
                        await closer(client)
                    elif hasattr(client, "close"):
                        result = client.close()
                        if asyncio.iscoroutine(result):
                            await result
                except Exception:  # pragma: no cover - closing is best effort at shutdown
                    log.debug("closing model client %r failed", key, exc_info=True)
            self._clients.clear()
            self._closers.clear()

        try:
            asyncio.run_coroutine_threadsafe(close_all(), loop).result(timeout_s)
        except Exception:  # pragma: no cover - a hung close must not hang shutdown
            log.warning("model clients did not close within %.0f s", timeout_s)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout_s)
        if not thread.is_alive():
            loop.close()

    @property
    def running(self) -> bool:
        return self._loop is not None and self._loop.is_running()


class PooledCalls(abc.ABC):
    """``complete`` and ``stream`` for a provider whose calls run on ``self.io`` (its pooled clients live there),
    or on the caller's loop when a client was injected (``self._shared``, a test's or an application's). A
    provider implements the calls themselves: ``_complete`` and ``_stream``."""

    io: ModelIO
    _shared: Any

    @abc.abstractmethod
    async def _complete(self, request: Any) -> Any:
        """One call, on whichever loop runs it."""

    @abc.abstractmethod
    def _stream(self, request: Any) -> AsyncIterator[Any]:
        """One streamed call, on whichever loop runs it."""

    async def complete(self, request: Any) -> Any:
        if self._shared is not None:
            return await self._complete(request)
        return await self.io.call(lambda: self._complete(request))

    async def stream(self, request: Any) -> AsyncIterator[Any]:
        if self._shared is not None:
            async for item in self._stream(request):
                yield item
            return
        async for item in self.io.stream(lambda: self._stream(request)):
            yield item


class LoopThreads:
    """A pool of worker threads, each with one event loop kept for its life, that run coroutines to the end.

    ``submit(make)`` runs ``make()`` on a worker's loop and returns a concurrent future; ``run(make)`` does the
    same from a worker thread itself. Synchronous work inside the coroutine (stores, the offline engine) blocks
    only its worker; model I/O hops to :class:`ModelIO`'s loop. ``shutdown()`` waits for running work, then
    closes every loop (cancelling what a coroutine left behind)."""

    def __init__(self, workers: int = 8, name: str = "firstline-turn") -> None:
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._local = threading.local()
        self._loops: list[asyncio.AbstractEventLoop] = []
        self._lock = threading.Lock()

    def run(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``make()`` to the end on this thread's loop (made on first use), in the caller's context."""
        loop: asyncio.AbstractEventLoop | None = getattr(self._local, "loop", None)
        if loop is None:
            loop = self._local.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            with self._lock:
                self._loops.append(loop)
        try:
            return loop.run_until_complete(make())
        finally:
            left = asyncio.all_tasks(loop)
            if left:  # what the coroutine started and left running does not outlive it
                for task in left:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))

    def submit(self, make: Callable[[], Coroutine[Any, Any, T]]) -> Future[T]:
        return self.executor.submit(self.run, make)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True)
        with self._lock:
            loops, self._loops = self._loops, []
        for loop in loops:  # idle and clean (see run): closing needs no running
            loop.close()


class _Failure:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


async def _awaited(make: Callable[[], Awaitable[T]]) -> T:
    return await make()
