"""Every environment variable the application reads is in docs/operations.md's configuration reference.

The names are read from the code itself (its syntax tree, not a hand-kept list):
``env.<type>("NAME")`` and ``env("NAME")`` on django-environ's reader in the
settings, ``os.environ.get/[]/setdefault``, ``os.getenv`` and ``"NAME" in os.environ``
anywhere, and a helper that passes its parameter to one of those (as
``flags/recording.py``'s ``_setting(name, default)`` does) with every literal
its module calls it with. The tests and the benchmark read variables of their
own; they are not the application's and are left out (the reference lists them
apart).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "operations.md"
SKIPPED_DIRS = {".venv", "tests", "bench", "node_modules", "sdk", "static", "templates", "docs"}
NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _parse(source: str) -> ast.Module:
    """ast.parse, again when CPython 3.11.7's parser trips on another thread parsing at the same
    moment ("SystemError: AST constructor recursion depth mismatch", a CPython bug, not our input)."""
    for _ in range(2):
        try:
            return ast.parse(source)
        except SystemError:
            continue
    return ast.parse(source)


def _is_os_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and _is_name(node.value, "os")


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _environment_read(node: ast.AST) -> ast.AST | None:
    """The expression naming the variable, if ``node`` reads one; else None."""
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("get", "setdefault", "pop") and _is_os_environ(func.value):
            return node.args[0]
        if isinstance(func, ast.Attribute) and func.attr == "getenv" and _is_name(func.value, "os"):
            return node.args[0]
        # django-environ: env("X"), env.bool("X"), env.db_url("X"), ...
        if _is_name(func, "env") or (isinstance(func, ast.Attribute) and _is_name(func.value, "env")):
            return node.args[0]
    if isinstance(node, ast.Subscript) and _is_os_environ(node.value):
        return node.slice
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In | ast.NotIn):
        if _is_os_environ(node.comparators[0]):
            return node.left
    return None


def _literal(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.match(node.value):
        return node.value
    return None


def variables_read_by(source: str) -> set[str]:
    """The environment variables one module reads, directly or through a helper taking the name."""
    tree = _parse(source)
    names: set[str] = set()
    helpers: dict[str, int] = {}  # function name -> position of the parameter it reads the environment with
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        parameters = [argument.arg for argument in function.args.args]
        for node in ast.walk(function):
            read = _environment_read(node)
            if isinstance(read, ast.Name) and read.id in parameters:
                helpers[function.name] = parameters.index(read.id)
    for node in ast.walk(tree):
        read = _environment_read(node)
        if read is not None and (name := _literal(read)):
            names.add(name)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers:
            position = helpers[node.func.id]
            if len(node.args) > position and (name := _literal(node.args[position])):
                names.add(name)
    return names


def application_sources() -> list[Path]:
    return sorted(
        path
        for path in ROOT.rglob("*.py")
        if not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts[:-1]) and path.name != "conftest.py"
    )


def variables_read_by_the_application() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in application_sources():
        for name in variables_read_by(path.read_text()):
            found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


def documented_variables() -> set[str]:
    """The names in the first column of the configuration reference's tables (up to the tests' and bench's)."""
    text = REFERENCE.read_text()
    section = text.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    section = section.split("### Read only by the tests", 1)[0]
    first_cells = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for cell in first_cells for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", cell)}


def test_the_scanner_finds_each_way_the_code_reads_a_variable():
    source = """
import os
env = environ.Env()
A = env.bool("DIRECT_ENV", default=False)
B = env("CALLED_ENV")
C = os.environ.get("OS_GET")
D = os.environ["OS_ITEM"]
os.environ.setdefault("OS_SETDEFAULT", "x")
E = os.getenv("OS_GETENV")
F = "OS_IN" in os.environ

def _setting(name, default):
    return os.environ.get(name, default)

G = _setting("THROUGH_A_HELPER", 1)
H = os.environ.get("lowercase is no variable")
"""
    assert variables_read_by(source) == {
        "DIRECT_ENV",
        "CALLED_ENV",
        "OS_GET",
        "OS_ITEM",
        "OS_SETDEFAULT",
        "OS_GETENV",
        "OS_IN",
        "THROUGH_A_HELPER",
    }


def test_the_scanner_reads_the_settings_and_the_recorder():
    found = variables_read_by_the_application()
    # A few of them; all are read in packedge/settings.py (flags/recording.py reads them from there).
    for name in ("DATABASE_URL", "SECRET_KEY", "CACHE_URL", "RATE_LIMIT_SYNC_SECONDS", "FLAG_RECORDING_MAX_BUFFER"):
        assert name in found, name
    assert found["FLAG_RECORDING_MODE"] == ["packedge/settings.py"]
    assert len(found) >= 40


def test_every_variable_the_application_reads_is_in_the_configuration_reference():
    found = variables_read_by_the_application()
    missing = {name: paths for name, paths in found.items() if name not in documented_variables()}
    assert not missing, "add to docs/operations.md's configuration reference: " + ", ".join(
        f"{name} (read in {', '.join(paths)})" for name, paths in sorted(missing.items())
    )


def test_the_configuration_reference_lists_no_variable_the_application_does_not_read():
    stale = documented_variables() - set(variables_read_by_the_application())
    assert not stale, "docs/operations.md documents variables nothing reads: " + ", ".join(sorted(stale))
