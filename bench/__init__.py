"""The benchmark harness: aiotelemetry side by side with the Python logging libraries people use.

``python bench/run.py`` (or ``make bench``) runs every scenario for every library, each in a
fresh interpreter, and writes ``bench/results.md``, ``bench/results.json`` and
``bench/charts/*.png``. See :mod:`bench.run`.
"""
