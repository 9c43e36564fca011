"""Every test says the behaviour it proves in a docstring (STYLE.md, "Tests"), and stays so.

A test without one leaves its reader to work out from the asserts what was meant, and a
failing test's name alone rarely says what a user lost. Nothing is imported or run: a file
whose every ``def test*`` is followed at once by a docstring passes on its text alone (a few
milliseconds for the whole suite, where parsing every file took half a second on a busy
machine); any other file is parsed with ``ast``, which decides.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

#: Folders pytest does not collect (pyproject.toml's norecursedirs): scripts, not tests.
NOT_COLLECTED = ("benchmarks",)

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

#: The start of a def of a test* function (indented too: methods).
_TEST_DEF_LINE = re.compile(r"^[ \t]*(?:async[ \t]+)?def[ \t]+test\w*", re.MULTILINE)
#: Such a def up to the end of its header, then its first line that is not blank.
_TEST_HEADER = re.compile(
    _TEST_DEF_LINE.pattern
    + r"\((?:[^\n]*\n)*?[^\n]*\)(?:[ \t]*->[^\n]*?)?:[ \t]*(?:#[^\n]*)?\n(?:[ \t]*\n)*([^\n]*)",
    re.MULTILINE,
)
#: A line opening a docstring that is not blank.
_DOCSTRING_START = re.compile(r"[ \t]*[rR]?(\"\"\"|''')(?!\s*\1)")


def surely_documented(source: str) -> bool:
    """True when every def of a test* function in ``source`` is followed at once by a
    docstring that is not blank: the text alone says the file passes. False says nothing (a
    fixture named test_*, a comment before the docstring): ``undocumented`` decides."""
    headers = [m.group(1) for m in _TEST_HEADER.finditer(source)]
    if len(headers) != len(_TEST_DEF_LINE.findall(source)):
        return False  # a header the pattern misread (a one-line def, say)
    return all(_DOCSTRING_START.match(line) for line in headers)


def _is_fixture(node: FunctionNode) -> bool:
    """A fixture may be named test_* (a ``test_ca`` certificate authority): pytest does not
    collect it as a test."""
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "fixture":
            return True
    return False


def _tests_in(body: list[ast.stmt], prefix: str = "") -> Iterator[tuple[str, FunctionNode]]:
    """The functions pytest collects from a module or class body: test* functions, at the
    top or in Test* classes (nested ones too), as (qualified name, node)."""
    for node in body:
        if isinstance(node, FunctionNode) and node.name.startswith("test"):
            if not _is_fixture(node):
                yield prefix + node.name, node
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            yield from _tests_in(node.body, f"{prefix}{node.name}.")


def undocumented(source: str, label: str) -> tuple[int, list[str]]:
    """How many tests ``source`` holds, and "label:line: name" for each without a docstring
    (or with a blank one)."""
    found = list(_tests_in(ast.parse(source, label).body))
    missing = [
        f"{label}:{node.lineno}: {name}"
        for name, node in found
        if not (ast.get_docstring(node) or "").strip()
    ]
    return len(found), missing


def _test_files() -> list[Path]:
    """The test_*.py files pytest collects under tests/."""
    return sorted(
        path
        for path in TESTS.rglob("test_*.py")
        if not set(path.relative_to(TESTS).parts[:-1]) & set(NOT_COLLECTED)
    )


def test_every_test_has_a_docstring_saying_what_it_proves() -> None:
    """Every test function under tests/ has a docstring; the failure names each one lacking it."""
    counted, missing = 0, []
    for path in _test_files():
        source = path.read_text(encoding="utf-8")
        if surely_documented(source):
            counted += len(_TEST_DEF_LINE.findall(source))
            continue
        count, lacking = undocumented(source, path.relative_to(TESTS.parent).as_posix())
        counted += count
        missing += lacking
    assert counted > 1000  # the walk found the suite (it holds well over a thousand tests)
    assert not missing, (
        f"{len(missing)} test(s) without a one-line docstring saying the behaviour they "
        "prove (STYLE.md, Tests):\n" + "\n".join(missing)
    )


SAMPLE = '''
import pytest

@pytest.fixture(scope="module")
def test_ca():
    return 1

def helper():
    pass

def test_documented():
    """Says what it proves."""

async def test_bare():
    pass

def test_blank():
    """ """

class TestGroup:
    def test_in_a_class(self):
        pass

    def helper(self):
        pass

class Other:
    def test_not_collected(self):
        pass
'''


def test_the_check_names_tests_without_docstrings_and_passes_fixtures_and_helpers() -> None:
    """The check names undocumented tests, in classes too, and passes fixtures and helpers."""
    assert undocumented(SAMPLE, "t.py") == (
        4,
        ["t.py:14: test_bare", "t.py:17: test_blank", "t.py:21: TestGroup.test_in_a_class"],
    )
    assert not surely_documented(SAMPLE)


@pytest.mark.parametrize(
    ("source", "sure"),
    [
        ('def test_a() -> None:\n    """Proves a."""\n', True),
        (
            "async def test_a(\n    x: int, y: dict[str, int]\n) -> tuple[int, str]:\n"
            '\n    r"""Proves a."""\n',
            True,
        ),
        ("class TestG:\n    def test_a(self):  # why\n        '''Proves a.'''\n", True),
        ('def test_a():\n    """\n    Proves a.\n    """\n', True),
        ("def test_a():\n    pass\n", False),
        ('def test_a():\n    # a comment first\n    """Proves a."""\n', False),
        ('def test_a():\n    """ """\n', False),
        ('def test_a():\n    """Proves a."""\ndef test_b(): ...\n', False),
        ('def test_b(): ...\ndef test_a():\n    """Proves a."""\n', False),
        ('def test_a(x=")"):\n    x = """Proves a."""\n', False),
    ],
)
def test_the_quick_look_passes_only_files_whose_every_test_opens_with_a_docstring(
    source: str, sure: bool
) -> None:
    """The text-only look passes only what the ast check passes; doubt goes to the ast."""
    assert surely_documented(source) is sure
    if sure:
        assert undocumented(source, "t.py")[1] == []
