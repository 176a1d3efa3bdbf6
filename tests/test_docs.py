"""Every code block in README.md and docs/ runs, so the documentation cannot rot.

Per page, the ```python blocks run in order in one fresh module namespace
(registered in ``sys.modules``, so ``router.include(sys.modules[__name__])``
and msgspec/typing lookups work), inside one event loop: a block may ``await``
at top level. Tracebacks point at the page and its line numbers.

There are no illustration-only blocks: a block tagged python runs; shell
blocks (bash, console...) are not run; json blocks must parse; a fence
without a language, or with one this collector does not know, fails.

No block imports the repository's ``examples`` package: the wheel does not ship
it, so a reader who copies a block into their own project could not run it.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
from _stores_support import require_postgres

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

NEEDS_POSTGRES = {ROOT / "docs" / "deployment.md"}
"""Pages whose blocks talk to PostgreSQL (at ``DATABASE_URL``)."""

RUN = {"python", "py"}
NOT_RUN = {"bash", "sh", "shell", "console", "text", "toml", "yaml", "ini", "http", "js", "ts", "html", "sql"}
CHECKED = {"json"}

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language, first code line (1-based) and text."""

    lang: str
    line: int
    code: str


def blocks_of(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown page, dedented to their fence."""
    lines = text.splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _OPEN.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        lang = opening["info"].strip().split(" ")[0].lower().lstrip("{.").rstrip("}")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not (
            lines[j].strip().startswith(fence) and set(lines[j].strip()) == {fence[0]}
        ):
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        found.append(Block(lang, i + 2, "\n".join(body) + "\n"))
        i = j + 1
    return found


BLOCKS = {page: blocks_of(page.read_text()) for page in PAGES}


def _id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_there_are_pages_to_check() -> None:
    assert (ROOT / "README.md") in PAGES
    assert len(PAGES) > 1, "docs/ has no pages"


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_every_fence_has_a_known_language(page: Path) -> None:
    for block in BLOCKS[page]:
        where = f"{_id(page)}:{block.line - 1}"
        assert block.lang, f"{where}: a code fence needs a language (python blocks run; bash/text do not)"
        assert block.lang in RUN | NOT_RUN | CHECKED, (
            f"{where}: unknown fence language {block.lang!r}; use python (runs), json, or one of {sorted(NOT_RUN)}"
        )
        if block.lang == "json":
            try:
                msgspec.json.decode(block.code)
            except msgspec.DecodeError as exc:
                pytest.fail(f"{where}: invalid JSON: {exc}")


@pytest.mark.anyio
@pytest.mark.parametrize("page", [p for p in PAGES if any(b.lang in RUN for b in BLOCKS[p])], ids=_id)
async def test_python_blocks_run(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if page in NEEDS_POSTGRES:
        # Like the store tests: skipped without a server, except in CI, where it fails.
        monkeypatch.setenv("DATABASE_URL", require_postgres())
    name = "docs_" + re.sub(r"\W", "_", _id(page).removesuffix(".md"))
    module = types.ModuleType(name, f"The code blocks of {_id(page)}")
    module.__file__ = str(page)
    sys.modules[name] = module
    try:
        for block in BLOCKS[page]:
            if block.lang not in RUN:
                continue
            # Pad so that tracebacks show the page's own line numbers.
            source = "\n" * (block.line - 1) + block.code
            code = compile(source, str(page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
            result = eval(code, module.__dict__)
            if inspect.isawaitable(result):
                await result
    finally:
        del sys.modules[name]


def _imported_modules(code: str) -> set[str]:
    """The dotted names a block imports: ``import a.b``, ``from a.b import c``, and the
    dotted names it gives ``router.include("a.b")`` or ``importlib.import_module("a.b")``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if called in {"include", "import_module"}:
                names.update(
                    arg.value
                    for arg in node.args
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                )
    return names


@pytest.mark.parametrize("page", [p for p in PAGES if any(b.lang in RUN for b in BLOCKS[p])], ids=_id)
def test_python_blocks_do_not_import_the_examples(page: Path) -> None:
    """The ``examples`` package is not in the wheel: a user who copies a block must be able to run it."""
    for block in BLOCKS[page]:
        if block.lang not in RUN:
            continue
        imported = {name for name in _imported_modules(block.code) if name.split(".")[0] == "examples"}
        assert not imported, (
            f"{_id(page)}:{block.line - 1}: imports {sorted(imported)}, which `pip install chatkit-handlers` "
            "does not bring; define what the page needs in the page itself"
        )
