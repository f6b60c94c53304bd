"""What a hub offers bridges: dispatching a signal already built, and deciding before building.

[`HubBridges`][telemetry._hub_bridges.HubBridges] is a base of [`Telemetry`][telemetry.Telemetry]:
re-emitting a built signal, and the two steps of OpenTelemetry's spans and log records (ask the
call filters first, build only when they say yes, then dispatch), from any thread.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable

import msgspec

from ._emit import Counts, Emitters
from ._filters import Filters
from ._runtime import Runtime
from ._signal import Signal
from ._threads import ThreadBridge
from ._warn import warn

__all__ = ["HubBridges"]


class HubBridges:
    """Dispatching signals built elsewhere to a [`Telemetry`][telemetry.Telemetry] hub's
    handlers, with the state this shares with the rest of the hub (built by its constructor)."""

    _emitters: Emitters
    _filters: Filters
    _counts: Counts
    _runtime: Runtime | None
    _inline: bool
    _bridge: ThreadBridge

    def emit_signal(self, sig: Signal) -> Awaitable[bool]:
        """Dispatch an already built signal (from a bridge, or to re-emit); no call filters.

        Args:
            sig: The signal, dispatched at its own severity.

        Returns:
            An awaitable of `True`: awaiting it waits for room in the handlers' queues as
            their modes say (what a handler refuses or drops is counted there).
        """
        return self._emitters.dispatch(sig, sig.severity)

    def emit_signal_nowait(self, sig: Signal) -> None:
        """[`emit_signal`][telemetry.Telemetry.emit_signal] without awaiting, from any thread.

        Args:
            sig: The signal, dispatched at its own severity.
        """
        self._emitters.dispatch_nowait(sig, sig.severity)

    # -- for bridges that decide before they build (OpenTelemetry's spans and records) -------

    def accepts(
        self, level: int, ns: str | None, kind: str, id: str | None, *, sample: bool = True
    ) -> bool:
        """Whether the call filters let a signal of this level, namespace, kind and id through,
        as far as they decide before it is built: the level floor, the namespace's level and
        the patterns, and with ``sample`` sampling (a refusal past the floor then counts as
        ``refused``). Nothing is built; the rest is
        [`emit_built_nowait`][telemetry.Telemetry.emit_built_nowait]'s.

        Args:
            level: The signal's severity (a number; see [`Level`][telemetry.Level]).
            ns: Its namespace, if any.
            kind: Its kind (`"log"`, `"span"`, ...).
            id: Its id, if any.
            sample: Whether sampling decides too; `False` only asks whether the levels and
                the patterns would let it through (a refusal is then not counted).

        Returns:
            Whether to build the signal and hand it to `emit_built_nowait`.
        """
        if self._emitters.table_nowait[level] is False:
            return False
        f = self._filters
        if not f.active:
            return True
        if not f.allows_names(level, ns, kind, id) or (sample and f.sampled_out(level, kind)):
            if sample:
                self._counts.refused += 1
            return False
        return True

    def emit_built_nowait(self, sig: Signal, level: int) -> bool:
        """Dispatch ``sig``, built after [`accepts`][telemetry.Telemetry.accepts] said yes, from any
        thread: the call filters that need the signal (``when``, rate limits), then every handler.
        Built on another thread than the loop's, it is marked with that thread's name.

        Args:
            sig: The built signal.
            level: Its severity, the one given to `accepts`.

        Returns:
            Whether it was dispatched; `False` when a call filter refused it (counted as
            `refused`).
        """
        f = self._filters
        if f.post_build:
            try:
                ok = f.allows_built(sig)
            except Exception as exc:  # a predicate of the user's blew up
                warn("filters", f"a call filter raised {exc!r}")
                ok = False
            if not ok:
                self._counts.refused += 1
                return False
        runtime = self._runtime
        if runtime is not None and not self._inline:
            if threading.get_ident() != runtime.thread_id:
                if sig.thread is None:
                    sig = msgspec.structs.replace(sig, thread=threading.current_thread().name)
            elif self._bridge.has_room():
                # On the loop, a call of OpenTelemetry's synchronous API cannot wait: where an
                # awaited call would wait for room, its signal is parked for the handler's pump
                # (as a signal from another thread is), within the hand-over's limit, instead
                # of being dropped as a ``*_nowait`` call's would be.
                self._emitters.deliver(sig, level)
                return True
        self._emitters.dispatch_nowait(sig, level)
        return True
