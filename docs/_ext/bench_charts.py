"""An MkDocs hook: serve the benchmark charts without keeping a second copy of them.

``make bench`` writes ``bench/results.md`` and ``bench/charts/*.png``. The benchmarks page
includes the Markdown with ``pymdownx.snippets``; its images are linked as ``charts/NAME.png``,
relative to the page. This hook adds every ``bench/charts/*.png`` to the site as if it were
``docs/charts/NAME.png``, read from where the benchmark wrote it, so the site always shows the
charts of the last run and git holds each image once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "bench" / "charts"
#: Where the charts appear in the site, relative to the docs folder.
SITE_FOLDER = "charts"


def on_files(files: Files, config: Any) -> Files:
    """Add the benchmark charts to the site's files."""
    for png in sorted(CHARTS.glob("*.png")):
        files.append(File.generated(config, f"{SITE_FOLDER}/{png.name}", abs_src_path=str(png)))
    return files
