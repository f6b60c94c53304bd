"""The default hub: where module-level calls and integrations without a hub of their own go.

It is the most recently opened hub that is still open (``telemetry._registry``), or, while
none is, the stderr fallback (``telemetry._fallback``).
"""

from __future__ import annotations

from . import _registry
from ._fallback import fallback_hub
from ._hub import Telemetry

__all__ = ["current_hub"]


def current_hub() -> Telemetry:
    """The default hub, or when none is open the stderr fallback."""
    if _registry.stack:
        return _registry.stack[-1]  # type: ignore[no-any-return]
    return fallback_hub()
