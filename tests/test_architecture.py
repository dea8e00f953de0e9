"""The shape of the code: imports point down (import-linter, .importlinter) and no module-level
import circles. Tests may import anything, so they are left out of both checks."""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("eventsite", "events", "tokens", "reports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    executable = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([str(executable), "--no-cache", "--no-logo"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_it_keeps_every_import_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_it_fails_on_an_upward_import_even_inside_a_function(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    services = tmp_path / "events" / "services.py"
    services.write_text(services.read_text() + "\n\ndef _wrong():\n    from eventsite.http import common  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "events.services -> eventsite.http.common" in result.stdout


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(path: Path, module: str, known: set[str]) -> set[str]:
    """Modules of ours that path imports when it is loaded (not inside functions)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    imported = set()
    nodes = list(tree.body)
    while nodes:
        node = nodes.pop()
        if isinstance(node, (ast.If, ast.Try)):  # still run at import time
            nodes += node.body + node.orelse + getattr(node, "finalbody", [])
            nodes += [statement for handler in getattr(node, "handlers", []) for statement in handler.body]
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: -node.level] if not path.name == "__init__.py" else module.split(".")
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            imported.add(base)
            imported |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in imported if name in known and name != module}


def test_it_has_no_import_circle_at_module_level():
    files = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
             if "tests" not in path.relative_to(ROOT).parts and "migrations" not in path.parts]
    modules = {_module_name(path): path for path in files}
    graph = {name: _top_level_imports(path, name, set(modules)) for name, path in modules.items()}
    circles = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                circles.append(trail[trail.index(target):] + [name, target] if target in trail else [name, target])
            elif target not in state:
                visit(target, [*trail, name])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert circles == []
