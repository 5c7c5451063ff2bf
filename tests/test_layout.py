"""The layout a newcomer relies on: four files at the top, two packages, imports that go one way."""

import ast
import subprocess

from kite_service.config.settings import PROJECT_DIR

TOP_LEVEL = {"kite_app", "kite_api", "scheduler", "log_utils"}
OWN_DIRECTORIES = ("kite_service/", "kite_sandbox/", "tests/", "bench/", "examples/", "deploy/")


def python_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    return listed.stdout.split()


def imported_modules(path) -> set[str]:
    """Top names of every module `path` imports, leaving out `if TYPE_CHECKING:` blocks (annotations only)."""
    tree = ast.parse((PROJECT_DIR / path).read_text())
    skipped = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    names = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_four_design_card_modules_sit_at_the_top():
    top = {path.removesuffix(".py") for path in python_files() if "/" not in path}
    assert top == TOP_LEVEL
    assert all(path.startswith(OWN_DIRECTORIES) for path in python_files() if "/" in path)


def test_the_package_never_imports_a_top_level_module():
    offenders = {
        path: imported_modules(path) & TOP_LEVEL for path in python_files() if path.startswith("kite_service/")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_sandbox_imports_nothing_of_the_service():
    service = TOP_LEVEL | {"kite_service"}
    offenders = {path: imported_modules(path) & service for path in python_files() if path.startswith("kite_sandbox/")}
    assert {path: names for path, names in offenders.items() if names} == {}


def test_every_module_opens_with_a_docstring():
    missing = [
        path for path in python_files() if ast.get_docstring(ast.parse((PROJECT_DIR / path).read_text())) is None
    ]
    assert missing == []
