"""The built documentation site works opened from disk: every internal link of every page
resolves to a file (not a folder, which ``file://`` shows as a listing), every anchor it names
exists, and the API reference shows the public surface only."""

from __future__ import annotations

from tests.conftest import needs

needs("mkdocs", "material", "mkdocstrings")  # the docs group

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import telemetry

ROOT = Path(__file__).resolve().parents[1]


class _Page(HTMLParser):
    """The links (``href``, ``src``) and the element ids of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("href", "src"):
                self.links.append(value)
            elif name == "id":
                self.ids.add(value)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mkdocs build --strict`` into a folder of its own."""
    out = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        check=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    return out


@pytest.mark.slow
def test_every_internal_link_resolves_to_a_file(site: Path) -> None:
    # 404.html is what a web server sends for a missing path, wherever it is: its links are
    # absolute by design, and it is never opened from disk.
    pages = sorted(p for p in site.rglob("*.html") if p.name != "404.html")
    assert len(pages) > 20
    parsed = {page: parse(page) for page in pages}
    broken: list[str] = []
    checked = 0
    for page, content in parsed.items():
        for link in content.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "data:", "//")):
                continue  # outside the site
            checked += 1
            where = f"{page.relative_to(site)}: {link}"
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if site.resolve() not in (target, *target.parents):
                broken.append(f"{where} (outside the site)")
            elif not target.is_file():
                what = "a folder" if target.is_dir() else "missing"
                broken.append(f"{where} ({what})")
            elif parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{where} (no anchor {parts.fragment!r})")
    assert checked > 500
    assert not broken, "\n".join(broken)


@pytest.mark.slow
def test_the_reference_shows_the_public_surface_only(site: Path) -> None:
    """``telemetry``'s reference lists the names of ``telemetry.__all__`` and their public
    members, nothing private, and ``Handler`` only what a user calls on it."""
    ids = parse(site / "reference" / "telemetry.html").ids
    documented = {i for i in ids if re.fullmatch(r"telemetry\.[A-Za-z_]\w*(\.\w+)*", i)}
    top = {i.split(".")[1] for i in documented}
    assert top <= set(telemetry.__all__), top - set(telemetry.__all__)
    assert {"Telemetry", "log", "exception", "exception_nowait", "Handler"} <= top
    private = [i for i in documented if any(p.startswith("_") for p in i.split(".")[1:])]
    assert private == []
    handler = {i for i in documented if i.startswith("telemetry.Handler.")}
    assert handler == {"telemetry.Handler.stats"}
    for page in (site / "reference").glob("*.html"):
        private = [i for i in parse(page).ids if re.search(r"^telemetry\..*\._", i)]
        assert private == [], f"{page.name}: {private}"
