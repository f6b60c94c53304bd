"""``python -m tests.sizes`` counts code lines apart from docstrings, comments and blanks.

The "no function over ~60 lines" habit is read in code lines, so the tool must not let a
docstring's parameter table count as code, nor hide a code string (a template) as one.
"""

from __future__ import annotations

import ast
import textwrap

from tests.sizes import code_lines

SOURCE = textwrap.dedent(
    '''\
    """A module docstring
    over two lines."""

    TEMPLATE = """
    def f():
        return 1
    """  # a template is code


    def f(a, b):
        """A docstring with its table.

        Args:
            a: The first.
            b: The second.
        """
        # a comment on its own line

        x = a + b  # a comment after code
        return x


    class C:
        """A class docstring."""

        y = 1
        """An attribute docstring."""
    '''
)


def test_code_lines_leave_out_docstrings_comments_and_blank_lines_only() -> None:
    """Code lines are the assignment, the template's four lines, the def, two statements, the
    class line and its attribute: no docstring, comment or blank line is among them."""
    lines = SOURCE.splitlines()
    counted = [lines[n - 1].strip() for n in sorted(code_lines(SOURCE))]
    assert counted == [
        'TEMPLATE = """',
        "def f():",
        "return 1",
        '"""  # a template is code',
        "def f(a, b):",
        "x = a + b  # a comment after code",
        "return x",
        "class C:",
        "y = 1",
    ]


def test_a_function_is_measured_in_both_views() -> None:
    """A function's code lines exclude its docstring; its total lines still count it."""
    tree = ast.parse(SOURCE)
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
    span = range(func.lineno, (func.end_lineno or func.lineno) + 1)
    assert len(code_lines(SOURCE, tree).intersection(span)) == 3
    assert len(span) == 11
