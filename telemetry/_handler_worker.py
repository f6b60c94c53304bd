"""A handler's worker side: taking batches from its queue, middleware, writing, counting.

[`HandlerWorker`][telemetry._handler_worker.HandlerWorker] is the base of
[`Handler`][telemetry.Handler]: the methods the workers run, from taking a batch off the queue to
the sink's write, its retries and the counts it settles. The handler builds the state they use
(declared here); only the event loop's thread runs them, except the synchronous write at exit.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Literal

import anyio

from ._middleware import Middleware, run_middleware
from ._options import WAITING_MODES, Mode
from ._queue import SignalQueue
from ._signal import Signal, top_up_uids
from ._stats import LatencyRecorder
from ._warn import warn
from .sinks._base import Sink

__all__ = ["LINGER_BELOW", "LINGER_S", "LINGER_WITHIN_S", "HandlerWorker"]

#: How long a worker lets a small batch gather more signals, when the previous batch was taken
#: less than [`LINGER_WITHIN_S`][telemetry._handler_worker.LINGER_WITHIN_S] ago (in the modes
#: where calls wait for room, not drop): at a moderate, steady rate (a log per websocket
#: message) each wake-up would otherwise take one or two signals and pay a task switch, an
#: encode and a write for each. Only the write is later; no call waits for it.
LINGER_S = 0.002
#: A worker lingers only when signals keep coming: its last batch was this recent.
LINGER_WITHIN_S = 0.005
#: A batch smaller than this is worth lingering for, and a linger ends once this many signals
#: wait (unless the sink says otherwise: ``Sink.linger_below``).
LINGER_BELOW = 64


class HandlerWorker:
    """The worker side of a [`Handler`][telemetry.Handler]: its methods, and the state they
    share with the rest of the handler (built by the handler's constructor)."""

    name: str
    sink: Sink
    mode: Mode
    batch_size: int
    max_retries: int
    retry_backoff: float
    middleware: tuple[Middleware, ...]
    _hub_middleware: tuple[Middleware, ...]
    _state: Literal["new", "open", "closing", "closed"]
    _queue: SignalQueue[Signal]
    _flush_waiters: list[tuple[int, asyncio.Future[None]]]
    _gathered: asyncio.Event
    _stalled: bool
    _abandoned: bool
    _in_hand: list[int]
    _dropped: Counter[str]
    _processed: int
    _written: int
    _done: int
    _errors: int
    _retries: int
    _middleware_errors: int
    _batches: int
    _latency: LatencyRecorder

    async def _run_worker(self) -> None:
        """Take batches from the queue and write them until the queue is closed and empty."""
        queue = self._queue
        clock = asyncio.get_running_loop().time
        last = float("-inf")
        # Only where a full queue makes calls wait, not drop, may the queue fill meanwhile.
        linger = self.mode in WAITING_MODES
        wanted = getattr(self.sink, "linger", None)  # a sink's own, else the default
        linger_s = LINGER_S if wanted is None else wanted
        below = getattr(self.sink, "linger_below", None) or LINGER_BELOW
        gathered = self._gathered
        while True:
            if not gathered.is_set():
                # Another worker lets a batch gather: taking the first signal that comes would
                # undo it. Wait, then gather the next batch in turn.
                await gathered.wait()
                if len(queue) < below and not queue.closed and not self._flush_waiters:
                    await self._linger(linger_s, below)
            batch = await queue.get_batch(self.batch_size)
            if not batch:
                break
            self._stalled = False  # the queue moved: calls may wait for room again
            try:
                await self._process(batch)
            except Exception as exc:  # a bug here must not take the app's task group down
                warn(f"worker:{self.name}", f"handler {self.name!r}: worker error {exc!r}")
            # Off the emitting path, replace the uids those signals (and their spans' ids)
            # took (see new_uid): a batch's worth or more, never past the pool's size.
            top_up_uids(4 * len(batch))
            # Signals keep coming, a few at a time: let the next batch gather (LINGER_S). The
            # worker holds nothing while it waits; what arrives stays in the queue, counted.
            now = clock()
            if (
                linger
                and gathered.is_set()  # else another worker is gathering: wait for it above
                and len(batch) < below
                # Signals keep coming: the last batch was recent, or some came during this
                # one's write (a slow write on a busy loop).
                and (now - last < LINGER_WITHIN_S + linger_s or 0 < len(queue) < below)
                and not queue.closed
                and not self._flush_waiters
            ):
                await self._linger(linger_s, below)
            last = now

    async def _linger(self, seconds: float, enough: int) -> None:
        """Let the queue gather for up to ``seconds``, looking every `LINGER_S`: a flush, the
        close, ``enough`` signals waiting (a batch worth its write), a full batch, a full queue
        (calls would wait for room) or calls that no longer wait (a wait for room ran out:
        they drop while the worker does not take a batch) end the wait, so that a long linger
        (a sink's) never holds up any of them for more than a step; nothing is waited for when
        one of them holds already."""
        queue = self._queue
        enough = min(enough, self.batch_size)  # a full batch is always enough
        steps = max(1, round(seconds / LINGER_S))
        self._gathered.clear()  # the other workers wait meanwhile (see _run_worker)
        try:
            for _ in range(steps):
                if (
                    queue.closed
                    or self._flush_waiters
                    or len(queue) >= enough
                    or queue.full()
                    or self._stalled
                ):
                    return
                await asyncio.sleep(seconds / steps)
        finally:
            self._gathered.set()

    def _middleware_failed(self, mw: Middleware, exc: Exception) -> None:
        self._middleware_errors += 1
        name = getattr(mw, "__qualname__", repr(mw))
        warn(f"mw:{self.name}:{name}", f"handler {self.name!r}: middleware {name} raised {exc!r}")

    def _apply_middleware(self, batch: list[Signal]) -> list[Signal]:
        chain = self._hub_middleware + self.middleware
        if not chain:
            return batch
        out = []
        for sig in batch:
            res = run_middleware(chain, sig, self._middleware_failed)
            if res is None:
                self._dropped["middleware"] += 1
            else:
                out.append(res)
        return out

    async def _process(self, batch: list[Signal]) -> None:
        todo: list[Signal] = []
        self._in_hand[0] += len(batch)
        try:
            todo = self._apply_middleware(batch)
            if todo:
                self._in_hand[1] += len(todo)
                try:
                    await self._write_with_retries(todo)
                finally:
                    self._in_hand[1] -= len(todo)
                todo = []
        except BaseException:
            # Cancelled mid-write (the close timed out): the batch is lost, and says so.
            if todo and not self._abandoned:
                self._dropped["timeout"] += len(todo)
            raise
        finally:
            self._in_hand[0] -= len(batch)
            if not self._abandoned:
                self._finished(len(batch))

    def _abandon_writes(self) -> None:
        """The close gave up on workers stuck in a write that ignores cancellation (a thread
        that never returns): count what they hold as ``timeout`` now, and nothing they do
        afterwards, so that the counts are final and exact."""
        if self._abandoned:
            return
        self._abandoned = True
        taken, writing = self._in_hand
        if writing:
            self._dropped["timeout"] += writing
        if taken:
            self._finished(taken, processed=False)

    def _process_sync(self, batch: list[Signal]) -> None:
        try:
            todo = self._apply_middleware(batch)
            if todo:
                self._write_sync_once(todo)
        finally:
            self._finished(len(batch))

    def _finished(self, n: int, *, processed: bool = True) -> None:
        if processed:
            self._processed += n
        self._done += n
        if self._flush_waiters:
            done = self._done
            still = []
            for target, fut in self._flush_waiters:
                if done >= target:
                    if not fut.done():
                        fut.set_result(None)
                else:
                    still.append((target, fut))
            self._flush_waiters = still

    async def _write_with_retries(self, batch: list[Signal]) -> None:
        sink = self.sink
        attempt = 0
        while True:
            t0 = time.perf_counter_ns()
            try:
                await sink.write(batch)
            except Exception as exc:
                if self._abandoned:  # counted as timeout when the close gave up on it
                    return
                self._errors += 1
                sink.take_drops()  # a failed write is retried whole
                if attempt >= self.max_retries or self._state == "closed":
                    self._dropped["sink_error"] += len(batch)
                    warn(
                        f"sink:{self.name}",
                        f"handler {self.name!r}: {sink.kind} sink failed, {len(batch)} signals "
                        f"dropped after {attempt + 1} attempts: {exc!r}",
                    )
                    return
                attempt += 1
                self._retries += 1
                await anyio.sleep(self.retry_backoff * (2 ** (attempt - 1)))
                continue
            self._settle(batch, time.perf_counter_ns() - t0)
            return

    def _write_sync_once(self, batch: list[Signal]) -> None:
        t0 = time.perf_counter_ns()
        try:
            self.sink.write_sync(batch)
        except Exception as exc:
            self._errors += 1
            self.sink.take_drops()
            self._dropped["sink_error"] += len(batch)
            warn(
                f"sink:{self.name}", f"handler {self.name!r}: {self.sink.kind} sink failed: {exc!r}"
            )
            return
        self._settle(batch, time.perf_counter_ns() - t0)

    def _settle(self, batch: list[Signal], elapsed_ns: int) -> None:
        if self._abandoned:  # counted as timeout when the close gave up on it
            return
        self._latency.add(elapsed_ns)
        self._batches += 1
        lost = self.sink.take_drops()
        if lost:
            n_lost = sum(lost.values())
            self._dropped.update(lost)
            self._written += len(batch) - n_lost
        else:
            self._written += len(batch)
