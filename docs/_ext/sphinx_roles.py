"""A griffe extension: make the reST spellings in the docstrings read well as Markdown.

The library's docstrings use Sphinx roles (``:class:`~telemetry.Signal```) and ``::`` before
literal blocks; mkdocstrings renders Markdown, where those would show as they are. Roles
become code spans (``~a.b.C`` shows ``C``, as in Sphinx); a closing ``::`` becomes ``:``, and a
``::`` alone on its line goes. The docstrings themselves stay as they are, for ``help()`` and
editors.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:attr|class|const|data|exc|func|meth|mod|obj):`(~?)([^`]+)`")
_LITERAL = re.compile(r"(?<=\S)::$", re.MULTILINE)
_BARE_LITERAL = re.compile(r"^[ \t]*::[ \t]*$", re.MULTILINE)
_ESCAPED_SPACE = re.compile(r"``\\ ")


def _role(m: re.Match[str]) -> str:
    target = m.group(2)
    if m.group(1):
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def to_markdown(text: str) -> str:
    """The docstring with roles as code spans and literal-block colons made single."""
    text = _ROLE.sub(_role, text)
    text = _ESCAPED_SPACE.sub("``", text)
    text = _BARE_LITERAL.sub("", text)
    return _LITERAL.sub(":", text)


def _rewrite(obj: griffe.Object) -> None:
    if obj.docstring is not None:
        obj.docstring.value = to_markdown(obj.docstring.value)


class SphinxRoles(griffe.Extension):
    """Rewrite each docstring once the object tree is built."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """The top package (``on_object`` runs for its members only)."""
        _rewrite(pkg)

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Every object below the top package."""
        _rewrite(obj)
