"""The layering of docs/ARCHITECTURE.md, checked by reading the code (no app): imports point one way
(views -> services -> domain), with no cycle among tracker/ modules, imports inside functions included
(an import moved into a function hides a cycle from Python, not from a reader); domain/ is pure; views
change nothing themselves."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tracker"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(name: str) -> list[tuple[str, int]]:
    """(imported name, line) for every import in a module: tracker modules by their dotted name (a
    `from package import name` that names a module counts as that module), others by their top package."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                full = f"{module}.{alias.name}"
                out.append((full if full in MODULES else module, node.lineno))
    return out


def _graph() -> dict[str, set[str]]:
    return {name: {m for m, _ in _imports(name) if m in MODULES and m != name} for name in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each as a cycle to read."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_walker_finds_a_cycle_when_there_is_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    graph = _graph()  # and it reads this project: the app imports its views and its services
    assert "tracker.views.scan" in graph["tracker"] and "tracker.services.handlers" in graph["tracker"]
    assert "tracker.services.orders" in graph["tracker.services.printing"]


def test_no_import_cycle_among_tracker_modules():
    cycles = _cycles(_graph())
    assert cycles == [], "import cycles (imports inside functions count too):\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


def _importers(prefix: str):
    return [(name, _imports(name)) for name in MODULES if name == prefix or name.startswith(prefix + ".")]


FRAMEWORKS = ("flask", "flask_sqlalchemy", "flask_login", "flask_wtf", "flask_limiter", "flask_migrate",
              "sqlalchemy", "werkzeug", "jinja2", "apscheduler")


def test_domain_is_pure_no_flask_no_database_nothing_of_the_app():
    bad = [f"{name}:{line} imports {what}" for name, imports in _importers("tracker.domain") for what, line in imports
           if what.split(".")[0] in FRAMEWORKS
           or (what.startswith("tracker") and not what.startswith("tracker.domain"))]
    assert bad == []


@pytest.mark.parametrize("layer, forbidden", [
    ("tracker.services", ("tracker.views", "tracker.workers", "flask_login", "flask_wtf")),  # an actor, not a request
    ("tracker.integrations", ("tracker.views", "tracker.services")),
    ("tracker.labels", ("tracker.views", "tracker.services")),
    ("tracker.domain", ("tracker.views", "tracker.services", "tracker.models")),
])
def test_arrows_point_one_way(layer, forbidden):
    bad = [f"{name}:{line} imports {what}" for name, imports in _importers(layer) for what, line in imports
           if what == forbidden or what.startswith(forbidden)]
    assert bad == []


def test_outbox_events_and_marketplace_hooks_know_no_one_above_them():
    for low in ("tracker.services.outbox", "tracker.services.events", "tracker.services.marketplace_push"):
        services = [what for what, _ in _imports(low) if what.startswith("tracker.services.")]
        assert services == [], f"{low} imports {services}: handlers are wired in services/handlers.py"


WRITES = {"add", "add_all", "delete", "merge", "flush", "execute", "bulk_save_objects"}
# What a view may set: the request's own limits, the response's flags (g), its own objects.
SETTABLE = {"request", "g", "self", "app", "resp", "response"}


def test_views_do_not_write_they_call_a_service():
    bad = []
    for name, path in MODULES.items():
        if not name.startswith("tracker.views"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITES:
                owner = ast.unparse(node.func.value)
                if owner.endswith("session"):
                    bad.append(f"{name}:{node.lineno} {owner}.{node.func.attr}()")
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
            for target in targets:
                if isinstance(target, ast.Attribute):
                    root = target
                    while isinstance(root, ast.Attribute):
                        root = root.value
                    if not (isinstance(root, ast.Name) and root.id in SETTABLE):
                        bad.append(f"{name}:{node.lineno} sets {ast.unparse(target)}")
    assert bad == [], "views change models only through services:\n" + "\n".join(bad)


def test_every_kind_the_code_queues_has_its_sender_wired_in_handlers():
    """outbox.py knows no kind: services/handlers.py registers them. A kind queued somewhere and never
    registered would sit in the outbox failing 'no handler' until it is parked."""
    import tracker.services.handlers  # noqa: F401 (what create_app imports)
    from tracker.services import etsy
    from tracker.services.outbox import HANDLERS

    queued = set()
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "enqueue" and node.args:
                kind = node.args[0]
                queued.add(kind.value if isinstance(kind, ast.Constant) else
                           {"TRACKING_KIND": etsy.TRACKING_KIND}[ast.unparse(kind)])
    assert len(queued) >= 7 and queued <= set(HANDLERS), queued - set(HANDLERS)


# Services that still commit, and why (each a request's flow around a call outside, not a batch loop).
COMMITTING_SERVICES = {
    "tracker.services.postage": "a label purchase commits its intent before asking the provider and what it "
                                "bought after, so no transaction is open during the call and a lost answer is "
                                "found again by its key",
    "tracker.services.backup": "the backup's own sqlite3 connection to the copy (not the app's session)",
}


def test_services_only_flush_batches_and_threads_live_in_workers():
    """A service's function flushes; its caller (a view, a CLI command, a job) commits. What commits as it
    goes (a batch loop, a background thread, the print queue, a polling round) lives in tracker/workers/."""
    bad = []
    for name, path in MODULES.items():
        if not name.startswith("tracker.services.") or name in COMMITTING_SERVICES:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit":
                bad.append(f"{name}:{node.lineno} {ast.unparse(node)}")
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Thread":
                bad.append(f"{name}:{node.lineno} starts a thread")
    assert bad == [], "services only flush (the commits belong to tracker/workers/ or the caller):\n" + "\n".join(bad)
    assert all(name in MODULES for name in COMMITTING_SERVICES)
