"""Call sites: the module and source location that emitted a signal.

The caller is found by skipping the library's own frames (the modules at the top of this
package: the creators, the hub, spans), not by counting frames, so that a creator may forward
to another one. What a call site resolves to is cached per code object and instruction, and
again by instruction offset alone, which makes the common case one dictionary look-up with a
small int: the compiled emitter looks the caller's frame up in the second cache itself (the
entry's code object tells whether it is this site's), and only a miss comes here. Two sites
that share an offset and alternate cost a call to `Sites.resolve` each time, which finds
them in the first cache.
"""

from __future__ import annotations

import os
from types import CodeType, FrameType

from ._signal import Location

__all__ = ["SITE_CACHE_MAX", "Site", "Sites", "is_library_code", "site_key"]

SITE_CACHE_MAX = 8192
"""Most call sites remembered per hub; past it, sites are resolved on every call."""
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

Site = tuple["str | None", "Location | None", CodeType]
"""``(namespace, location or None, code)``: the code object is kept in the entry, which both pins
its id (so that it cannot be reused by another code object) and tells a colliding key apart."""


def site_key(frame: FrameType) -> int:
    """The cache key of a frame's current instruction: the code object's address plus the
    instruction's offset. An int, because hashing a code object (or a tuple holding one) costs
    more than the rest of the look-up; a sum, because it stays a small int. Two call sites may
    share a key (one code object ending where another's offsets reach): the entry keeps its
    code object, so the emitter tells them apart and resolves the other one afresh."""
    return id(frame.f_code) + frame.f_lasti


def is_library_code(code: CodeType) -> bool:
    """Whether ``code`` belongs to the emitting machinery (a module at the top of the
    package), whose frames are never a signal's call site. Integrations and sinks, in the
    subpackages, are callers like any other."""
    filename = code.co_filename
    return filename.startswith(_PACKAGE_DIR) and os.sep not in filename[len(_PACKAGE_DIR) :]


class Sites:
    """One hub's call-site cache. ``location=False`` records the namespace only."""

    __slots__ = ("by_offset", "cache", "location")

    def __init__(self, location: bool) -> None:
        self.location = location
        self.cache: dict[int, Site] = {}
        """`site_key` to `Site`."""
        self.by_offset: dict[int, Site] = {}
        """The offset of the calling instruction (``f_lasti``) to the last site resolved there; read
        directly by the compiled emitter, which checks the entry's code."""

    def resolve(self, frame: FrameType | None, up: int = 0) -> Site:
        """The site of the first frame from ``frame`` outwards that is not the library's,
        or ``up`` frames further out (``stacklevel`` - 1)."""
        first = frame
        while frame is not None and is_library_code(frame.f_code):
            frame = frame.f_back
        for _ in range(up):
            if frame is None or frame.f_back is None:
                break
            frame = frame.f_back
        if frame is None:
            return (None, None, _NO_CODE)
        code = frame.f_code
        key = site_key(frame)
        site = self.cache.get(key)
        if site is None or site[2] is not code:
            site = (
                frame.f_globals.get("__name__"),
                Location(file=code.co_filename, line=frame.f_lineno, function=code.co_name)
                if self.location
                else None,
                code,
            )
            if len(self.cache) < SITE_CACHE_MAX:
                self.cache[key] = site
        if frame is first and len(self.by_offset) < SITE_CACHE_MAX:
            self.by_offset[frame.f_lasti] = site
        return site


_NO_CODE = (lambda: None).__code__
