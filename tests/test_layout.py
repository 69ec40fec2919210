"""The layout rules of CONTRIBUTING.md, held by tests: one direction of dependency, no HTTP in services."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_PACKAGES = ("core", "members", "sharing")


def _python_files(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_members_never_refers_to_sharing():
    # Not by import, and not by name either (apps.get_model("sharing", …), "sharing.view_record").
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "members").rglob("*")
        if path.is_file() and path.suffix in {".py", ".html", ".txt"} and "sharing" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_core_depends_on_neither_app():
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in _imported_modules(path) if m.split(".")[0] in {"members", "sharing"}
        )
        for path in _python_files("core")
    }
    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_services_and_selectors_know_nothing_of_http():
    layers = [
        path
        for path in _python_files("members", "sharing")
        if path.stem in {"services", "selectors"} or "services" in path.parts
    ]
    assert layers
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m
            for m in _imported_modules(path)
            if m.split(".")[0] in {"rest_framework", "drf_spectacular"} or m == "django.http"
        )
        for path in layers
    }
    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_no_module_of_app_code_is_over_600_lines():
    long = {
        str(path.relative_to(ROOT)): count
        for path in _python_files(*APP_PACKAGES)
        if "migrations" not in path.parts and (count := len(path.read_text(encoding="utf-8").splitlines())) > 600
    }
    assert long == {}
