"""The pytest plugin's fixtures, for ``pytest_plugins = ["telemetry.pytest_plugin"]`` or
``-p telemetry.pytest_plugin`` where entry points are disabled (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``).

Installed, the plugin is registered through the ``pytest11`` entry point, nothing to configure;
that entry point is the top-level module ``_aiotelemetry_pytestplugin``, which imports nothing of
aiotelemetry until its fixture is requested (see there). This module is the same fixtures under
the package's name.

Fixtures:

- ``tel_capture``: a [`telemetry.testing.Captured`][telemetry.testing.Captured] holding every signal
emitted during the
  test, captured synchronously as it is emitted; see ``telemetry.testing``.
"""

from __future__ import annotations

from _aiotelemetry_pytestplugin import tel_capture

__all__ = ["tel_capture"]
