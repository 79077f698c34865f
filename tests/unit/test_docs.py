"""The manual stays true to the code: commands, routes, modules and links in docs/ and README.md."""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from cosmic_horizons.api import ApiState, create_app
from cosmic_horizons.cli.main import app
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.monitor import Monitor

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "src" / "cosmic_horizons"
PAGES = sorted(DOCS.glob("*.md"))
MANUAL = [ROOT / "README.md", *PAGES]


# -- what the code has ---------------------------------------------------------------------


def _subcommands(command: Any) -> dict[str, Any]:
    """A group's subcommands by name; none for a plain command (typer ships its own click)."""
    commands = getattr(command, "commands", None)
    return dict(commands) if isinstance(commands, dict) else {}


def _command_paths(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and subcommand below ``command``, as word tuples (``("topics", "ensure")``)."""
    for name, sub in _subcommands(command).items():
        if getattr(sub, "hidden", False):
            continue
        yield (*prefix, name)
        yield from _command_paths(sub, (*prefix, name))


CLI = typer.main.get_command(app)
COMMANDS = set(_command_paths(CLI))


def _command_at(path: tuple[str, ...]) -> Any:
    command: Any = CLI
    for word in path:
        command = _subcommands(command)[word]
    return command


GROUPS = {(), *(path for path in COMMANDS if _subcommands(_command_at(path)))}


def _api_paths() -> set[str]:
    """Every path the app serves: its own routes and those of the routers it includes."""
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    api = create_app(ApiState(settings=settings, monitor=Monitor(settings)))
    paths = {str(getattr(route, "path", "")) for route in api.routes}
    try:
        from cosmic_horizons.api.routes import ROUTERS
    except ImportError:  # the API before its routes were split out
        routers = ()
    else:
        routers = ROUTERS
    paths |= {str(getattr(r, "path", "")) for router in routers for r in router.routes}
    return {path for path in paths if path}


def _modules() -> set[str]:
    """Every Python module of the package, relative to ``src/cosmic_horizons``."""
    return {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}


# -- what the docs say ---------------------------------------------------------------------

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")


def _code(text: str) -> Iterator[str]:
    """Every code snippet of a page: inline code and each line of a code block."""
    for block in FENCE.findall(text):
        for line in block.splitlines():
            yield line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
    yield from INLINE.findall(FENCE.sub("", text))


def _invocations(text: str) -> Iterator[list[str]]:
    """The words after each ``horizons`` written as a command in code (not ``cosmic_horizons``)."""
    for snippet in _code(text):
        for match in re.finditer(r"(?:^|[\s|;&(/])horizons(?![\w.-])((?:\s+[^\s|;&)]+)*)", snippet):
            try:
                words = shlex.split(match.group(1), posix=True)
            except ValueError:
                words = match.group(1).split()
            yield words


def _command_words(words: list[str]) -> tuple[str, ...]:
    """The leading words of an invocation that name commands: stop at an option or argument.

    ``horizons topics alter NAME --retention 14d`` is ``("topics", "alter")``; a word after a
    group that names no subcommand is kept, so that a misspelt subcommand is caught. A
    placeholder (``horizons ARGS``) or an option first (``horizons --log-level``) names none.
    """
    path: tuple[str, ...] = ()
    for word in words:
        if not re.fullmatch(r"[a-z][a-z0-9-]*", word) or path not in GROUPS:
            break
        path = (*path, word)
        if path not in COMMANDS:
            break
    return path


def _cli_page() -> str:
    return (DOCS / "cli.md").read_text()


# -- the tests -----------------------------------------------------------------------------


def test_the_walk_finds_commands_and_subcommands() -> None:
    assert ("topics", "ensure") in COMMANDS and ("archive", "run") in COMMANDS
    assert ("up",) in COMMANDS and ("topics",) in GROUPS
    assert _command_words(["topics", "alter", "NAME", "--retention", "14d"]) == ("topics", "alter")
    assert _command_words(["check", "--wait", "30s"]) == ("check",)
    assert _command_words(["topics", "shrink", "X"]) == ("topics", "shrink")
    assert _command_words(["--log-level", "debug", "up"]) == ()


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_every_cli_command_is_in_the_cli_reference(path: tuple[str, ...]) -> None:
    shown = {_command_words(words) for words in _invocations(_cli_page())}
    prefixes = {found[:n] for found in shown for n in range(1, len(found) + 1)}
    assert path in prefixes, f"docs/cli.md never shows `horizons {' '.join(path)}`"


@pytest.mark.parametrize("page", MANUAL, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_command_in_the_docs_exists(page: Path) -> None:
    unknown = sorted(
        {
            " ".join(path)
            for words in _invocations(page.read_text())
            if (path := _command_words(words)) and path not in COMMANDS
        }
    )
    assert not unknown, f"{page.name} shows commands horizons does not have: {unknown}"


def test_the_docs_show_commands_at_all() -> None:
    """The parser finds what it should (else the test above passes vacuously)."""
    found = {_command_words(w) for page in MANUAL for w in _invocations(page.read_text())}
    assert ("archive", "replay") in found and ("check",) in found
    assert not list(_invocations("`cosmic_horizons.api` `horizons_x` `horizons.py`"))
    assert _command_words(["ARGS"]) == ()
    assert list(_invocations("`horizons topics describe element.raw_data`")) == [
        ["topics", "describe", "element.raw_data"]
    ]


ROUTE = re.compile(r"(?:^|\s)(/[\w/{}.\-]*)")  # `GET /api/x[?q=v]`, `/docs`; not inside a URL


@pytest.mark.parametrize("path", sorted(_api_paths()))
def test_every_http_route_is_in_the_api_page(path: str) -> None:
    page = (DOCS / "http-api.md").read_text()
    written = {m for code in INLINE.findall(page) for m in ROUTE.findall(code)}
    assert path in written, f"docs/http-api.md does not name the route {path}"


PARTS_ROW = re.compile(r"^\|\s*`([^`]+\.py)`\s*\|", re.M)


def _parts_table() -> list[str]:
    text = (DOCS / "architecture.md").read_text()
    section = text.split("## Parts", 1)[1].split("\n## ", 1)[0]
    return PARTS_ROW.findall(section)


def test_every_module_in_the_parts_table_exists() -> None:
    named = _parts_table()
    assert len(named) > 20, "the parts table of docs/architecture.md was not found"
    missing = sorted(set(named) - _modules())
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"
    assert len(named) == len(set(named)), "a module is named twice in the parts table"


def test_every_module_is_in_the_parts_table() -> None:
    absent = sorted(_modules() - set(_parts_table()))
    assert not absent, f"docs/architecture.md's parts table lacks: {absent}"


def _imports(path: Path) -> Iterator[str]:
    """The modules of this package that ``path`` imports, as dotted names below it."""
    package = path.relative_to(PACKAGE).with_suffix("").parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = [*base, *(node.module.split(".") if node.module else [])]
                names = [".".join([*target, alias.name]) for alias in node.names]
                yield ".".join(target)
                yield from names
            elif node.module and node.module.startswith("cosmic_horizons"):
                yield node.module.removeprefix("cosmic_horizons").lstrip(".")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("cosmic_horizons."):
                    yield alias.name.removeprefix("cosmic_horizons.")


def test_the_import_rule_holds() -> None:
    """docs/architecture.md: nothing below cli and api imports them; api does not import cli."""
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        top = path.relative_to(PACKAGE).parts[0]
        if top in ("cli", "__main__.py"):
            continue
        forbidden = ("cli",) if top == "api" else ("cli", "api")
        for name in _imports(path):
            if name.split(".")[0] in forbidden:
                broken.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not broken, broken


LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(text: str) -> set[str]:
    """GitHub's anchors of a page's headings."""
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.*)$", FENCE.sub("", text), re.M)
    }


@pytest.mark.parametrize("page", MANUAL, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in LINK.findall(FENCE.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        resolved = (page.parent / file).resolve() if file else page
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved.read_text()):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{page.relative_to(ROOT)} links to what does not exist: {broken}"


def test_the_readme_keeps_the_two_commands_on_its_first_screen() -> None:
    """CI runs the README's test command; the first screen says how to start and to test."""
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:30])
    assert "./dev up" in first_screen and "./dev test" in first_screen
