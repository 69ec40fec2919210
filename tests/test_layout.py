"""The layout rules of CONTRIBUTING.md, held by tests: one direction of dependency, no HTTP in services."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
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


# The domain packages of sharing, lowest first: each imports only packages to its left (and core, members).
# sharing/ itself (models.py, urls.py, admin.py, tasks.py, apps.py, management/) is the composition root above
# them all; cli is the member's client and imports only the Django-free modules below.
ORDER = [
    "common",
    "tokens",
    "tlog",
    "alerts",
    "registers",
    "records",
    # Below lookups, which answer identity_at_risk from it; it tells monitoring through its signal.
    "protection",
    "lookups",
    "disputes",
    "monitoring",
    "evaluations",
    "retention",
    "reports",
    # The person's own report reads every domain above records and is screened by the desk.
    "subjects",
    "desk",
]
# Modules a member runs on its own machine (the CLI and what it imports): no Django.
CLIENT_MODULES = [
    "sharing.cli",
    "sharing.cli.keys",
    "sharing.cli.tokenize_v2",
    "sharing.tokens.identifiers",
    "sharing.tokens.keyfile",
    "sharing.tokens.oprf",
    "sharing.tokens.directory",
    "sharing.tokens.evaluator",
    "sharing.tokens.evaluator_wire",
    "sharing.tlog.leaf",
    "sharing.tlog.merkle",
    "sharing.tlog.note",
    "sharing.tlog.tiles",
    "sharing.reports.verify",
    "sharing.subjects.verify",
    "sharing.common.crypto",
]


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "sharing" and len(parts) > 1 and parts[1] in ORDER else None


def _module_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _upward_imports(paths: list[Path], module_of=_module_of) -> dict[str, list[str]]:
    offenders: dict[str, list[str]] = {}
    for path in paths:
        own = _package(module_of(path))
        if own is None:
            continue
        for module in sorted(_imported_modules(path)):
            other = _package(module)
            if module == "sharing.models" or (other and ORDER.index(other) > ORDER.index(own)):
                offenders.setdefault(module_of(path), []).append(module)
    return offenders


def test_every_package_of_sharing_is_in_the_order():
    packages = {path.parent.name for path in (ROOT / "sharing").glob("*/__init__.py")}
    assert packages - {"cli", "management", "migrations"} == set(ORDER)


def test_packages_import_only_packages_below_them():
    # sharing.models is the registry's aggregator: package code names the owning package's models module.
    assert _upward_imports(_python_files("sharing")) == {}


def test_an_upward_import_is_caught(tmp_path):
    # The check above can fail: records' services importing monitoring (a later package) is reported.
    copy = tmp_path / "services.py"
    source = (ROOT / "sharing" / "records" / "services.py").read_text(encoding="utf-8")
    copy.write_text(source + "\nfrom sharing.monitoring.events import watch_events_produce\n", encoding="utf-8")
    found = _upward_imports([copy], module_of=lambda path: "sharing.records.services")
    assert found == {"sharing.records.services": ["sharing.monitoring.events"]}


# Raw SQL is a dependency the import graph cannot see: a package's SQL names only its own tables and those of
# packages below it, except these reads, each with its reason.
READS_OF_LATER_TABLES = {
    ("records", "sharing_disputetoken"): "the summary's statement flag is recomputed in the dispute's transaction",
    ("registers", "sharing_record"): "a partner's profile counts the records that name the partner",
}


def _table_owners() -> dict[str, str]:
    from django.apps import apps

    owner = {
        model._meta.db_table: _package(model.__module__)
        for model in apps.get_app_config("sharing").get_models()
        if _package(model.__module__)
    }
    # pghistory declares its event models in the app's models module.
    owner["sharing_recordevent"] = "records"
    return owner


def test_raw_sql_names_only_its_own_or_lower_tables():
    owner = _table_owners()
    offenders = set()
    for path in _python_files("sharing"):
        own = _package(_module_of(path))
        if own is None:
            continue
        for table in set(re.findall(r"\bsharing_[a-z_]+\b", path.read_text(encoding="utf-8"))):
            other = owner.get(table)
            if other and ORDER.index(other) > ORDER.index(own) and (own, table) not in READS_OF_LATER_TABLES:
                offenders.add((str(path.relative_to(ROOT)), table))
    assert offenders == set()


def test_every_table_has_an_owning_package():
    from django.apps import apps

    unowned = [
        model._meta.label
        for model in apps.get_app_config("sharing").get_models()
        if _package(model.__module__) is None and model._meta.db_table != "sharing_recordevent"
    ]
    assert unowned == []


def test_the_member_side_client_loads_no_django():
    # Django made unimportable: importing it fails, and so would any client module that reached it.
    code = (
        "import sys\n"
        "class NoDjango:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'django':\n"
        "            raise ImportError('Django is not available on a member machine')\n"
        "sys.meta_path.insert(0, NoDjango())\n"
        f"for module in {CLIENT_MODULES!r}:\n"
        "    __import__(module)\n"
        "import sharing.cli\n"
        "sharing.cli.main(['--help'])\n"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "riskshare" in result.stdout
