"""The optional extras, and what a feature says when the one it needs is not installed.

Nothing optional is imported at ``import telemetry``: each feature imports its packages when it
is used, and a missing one is reported in one line that names the extra to install, at that
moment (an ``ImportError`` for an import, a [`ConfigError`][telemetry.ConfigError] for a
configuration that asks for the feature).
"""

from __future__ import annotations

__all__ = ["EXTRAS", "install_hint", "missing_extra", "missing_package"]

EXTRAS: dict[str, tuple[str, ...]] = {
    "fastapi": ("starlette",),
    "otlp": ("httpx", "opentelemetry.proto"),
    "prometheus": ("prometheus_client",),
    "yaml": ("yaml",),
}
"""Each extra of the ``aiotelemetry`` distribution and the modules it brings."""


def install_hint(extra: str) -> str:
    """The command that installs ``extra``: ``pip install 'aiotelemetry[otlp]'``."""
    return f"pip install 'aiotelemetry[{extra}]'"


def missing_extra(feature: str, package: str, extra: str) -> ModuleNotFoundError:
    """The error for ``feature`` used without ``package`` (which ``extra`` installs), to raise
    ``from None`` where its import failed: one line that says what is missing and how to
    install it."""
    return ModuleNotFoundError(
        f"{feature} needs {package}, which is not installed: {install_hint(extra)}",
        name=package,
    )


def missing_package(feature: str, package: str) -> ModuleNotFoundError:
    """As `missing_extra`, for a package no extra brings (``opentelemetry-api``: an
    application that uses OpenTelemetry installs it itself)."""
    return ModuleNotFoundError(
        f"{feature} needs {package}, which is not installed: pip install {package}", name=package
    )
