"""The packages are the layers: every module's imports (inside functions too) checked with ``ast``.

``hubscale/`` is the shared vocabulary and imports nothing else of ours; the spawner and the hub
never import the controller, nor the controller them; ``make up``'s supervisor (``local_stack/``)
sits on top (it runs the hub and the controller as processes) and nothing below imports it; the
notebook tools ship alone in the notebook image. Inside ``autoscaler/`` the arrows point one way:
the pure ``policy/`` (no I/O, no clock: no I/O import, no ``open()``) imports no other layer;
``readers/`` and ``backends/`` import neither each other's side nor the controller (backends not
even the policy: they decide nothing); ``sim/`` runs the policy alone (to replay a team's
history it reads Prometheus through ``readers.prometheus``, no other reader); ``controller/``
may import every layer but the simulator. ``benchmarks/``, ``tests/`` and ``tools/`` may
import anything of ours; nothing that ships imports them. The usage service (``usage/``) reads
the shared objects and Prometheus, like the hub's side it is: it imports neither the controller
nor the hub's code.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OURS = (  # ships
    "hubscale",
    "autoscaler",
    "spawner",
    "hub_config",
    "local_stack",
    "hubscale_nb",
    "hubscale_lab",
    "usage",
    "tracking",
)
UNSHIPPED = ("benchmarks", "tests", "tools")  # may import anything of ours
ON_TOP = ("local_stack",)  # runs the platform; only tests and benchmarks import it
IO_MODULES = (
    "aiohttp",
    "asyncio",
    "concurrent",
    "datetime",
    "glob",
    "http",
    "httpx",
    "io",
    "kubernetes",
    "kubernetes_asyncio",
    "logging",
    "multiprocessing",
    "os",
    "pathlib",
    "prometheus_client",
    "random",
    "secrets",
    "shutil",
    "signal",
    "socket",
    "subprocess",
    "tempfile",
    "threading",
    "time",
    "urllib",
)
IO_BUILTINS = ("open", "input", "print")
# The readers that build the controller's live signals: the simulator uses none of them.
LIVE_READERS = ("activity", "flink_rest", "http_api", "signal_queries")


@dataclass(frozen=True)
class Rule:
    """Modules under ``where`` (a package directory or one file) must not import ``forbidden``."""

    where: str
    forbidden: tuple[str, ...]
    why: str


def _others(package: str) -> tuple[str, ...]:
    return tuple(other for other in OURS if other != package)


def _layers(*names: str) -> tuple[str, ...]:
    return tuple(f"autoscaler.{name}" for name in names)


RULES = (
    Rule("hubscale", _others("hubscale"), "shared: imports nothing else of ours"),
    Rule("spawner", ("autoscaler",), "the spawner meets the controller only in ComputeClusters"),
    Rule(
        "hub_config", ("autoscaler",), "the hub runs the controller as a process, never imports it"
    ),
    Rule("autoscaler", ("spawner", "hub_config", "usage"), "the controller never imports the hub"),
    Rule(
        "usage",
        ("autoscaler", "spawner", "hub_config", "local_stack", "hubscale_nb"),
        "the usage service reads objects and metrics, never the controller's or hub's code",
    ),
    Rule(
        "tracking",
        tuple(other for other in _others("tracking") if other != "hubscale"),
        "the tracking service stands in front of MLflow: it imports only the shared vocabulary",
    ),
    *(
        Rule(below, ON_TOP, "nothing below make up imports it")
        for below in ("autoscaler", "spawner", "hub_config", "usage", "tracking")
    ),
    Rule(
        "local_stack", ("autoscaler",), "make up runs the controller as a process, never imports it"
    ),
    Rule("hubscale_nb", _others("hubscale_nb"), "the notebook image ships hubscale_nb alone"),
    Rule(
        "hubscale_lab",
        ("autoscaler", "spawner", "hub_config", "local_stack", "usage"),
        "the notebook image ships hubscale_lab with hubscale and hubscale_nb only",
    ),
    *(Rule(package, UNSHIPPED, "what ships never imports what does not") for package in OURS),
    Rule("autoscaler/policy", IO_MODULES, "the policy is pure: no I/O, no clock"),
    Rule(
        "autoscaler/policy",
        _layers("readers", "controller", "backends", "sim"),
        "the policy imports no other layer",
    ),
    Rule(
        "autoscaler/readers",
        _layers("controller", "backends", "sim"),
        "readers turn answers into signals, for the controller",
    ),
    Rule(
        "autoscaler/backends",
        _layers("policy", "readers", "controller", "sim"),
        "backends run what the controller decided",
    ),
    Rule(
        "autoscaler/sim",
        _layers("controller", "backends", *(f"readers.{name}" for name in LIVE_READERS)),
        "the sim runs policies; it reads Prometheus's history with the one client only",
    ),
    Rule("autoscaler/controller", _layers("sim"), "the controller never runs the simulator"),
)


def module_name(root: Path, path: Path) -> str:
    """``autoscaler/backends/local/backend.py`` -> ``autoscaler.backends.local.backend``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(root: Path, path: Path) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports, anywhere in it, as (line, absolute dotted name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(root, path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield node.lineno, module
            for alias in node.names:  # `from autoscaler import store` imports autoscaler.store
                yield node.lineno, f"{module}.{alias.name}"


def _matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layering_violations(root: Path) -> list[str]:
    """Each forbidden import under ``root`` as ``file:line: importer -> imported (rule)``."""
    found = []
    for rule in RULES:
        where = root / rule.where
        files = sorted(where.rglob("*.py")) if where.is_dir() else [where] if where.exists() else []
        for path in files:
            seen = set()
            for line, module in imported_modules(root, path):
                bad = next((f for f in rule.forbidden if _matches(module, f)), None)
                if bad is not None and (line, bad) not in seen:
                    seen.add((line, bad))
                    importer = module_name(root, path)
                    relative = path.relative_to(root)
                    found.append(f"{relative}:{line}: {importer} -> {module} ({rule.why})")
    return found


def io_calls(root: Path, where: str = "autoscaler/policy") -> list[str]:
    """Each call of an I/O builtin (no import needed) under ``where``, as ``file:line: name()``."""
    found = []
    for path in sorted((root / where).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in IO_BUILTINS:
                found.append(f"{path.relative_to(root)}:{node.lineno}: {node.func.id}()")
    return found


def test_the_packages_import_only_what_their_layer_allows():
    assert layering_violations(REPO) == []


def test_the_policy_calls_no_io_builtin():
    assert io_calls(REPO) == []


def test_every_rule_covers_existing_code():
    for rule in RULES:
        assert (REPO / rule.where).exists(), rule.where


def test_the_checker_reports_a_spawner_module_importing_the_controller(tmp_path: Path):
    (tmp_path / "spawner").mkdir()
    (tmp_path / "spawner" / "x.py").write_text("import json\n\nfrom autoscaler.y import z\n")

    assert layering_violations(tmp_path) == [
        "spawner/x.py:3: spawner.x -> autoscaler.y"
        " (the spawner meets the controller only in ComputeClusters)"
    ]


def test_the_checker_finds_imports_inside_functions_and_relative_ones(tmp_path: Path):
    shared = tmp_path / "hubscale"
    shared.mkdir()
    (shared / "__init__.py").write_text("")
    (shared / "names.py").write_text(
        "from . import spec\n\n\ndef late():\n    from spawner import profiles\n"
    )
    (tmp_path / "autoscaler" / "policy").mkdir(parents=True)
    (tmp_path / "autoscaler" / "policy" / "rules.py").write_text("def now():\n    import time\n")

    assert layering_violations(tmp_path) == [
        "hubscale/names.py:5: hubscale.names -> spawner (shared: imports nothing else of ours)",
        "autoscaler/policy/rules.py:2: autoscaler.policy.rules -> time"
        " (the policy is pure: no I/O, no clock)",
    ]


def test_the_checker_reports_the_controller_importing_the_make_up_supervisor(tmp_path: Path):
    (tmp_path / "autoscaler").mkdir()
    (tmp_path / "autoscaler" / "x.py").write_text("from local_stack.stack import Stack\n")

    assert layering_violations(tmp_path) == [
        "autoscaler/x.py:1: autoscaler.x -> local_stack.stack (nothing below make up imports it)"
    ]


def test_no_test_module_imports_another():
    """What tests share lives in support modules (``tests/builders.py``, ``tests/kube/``...)."""
    found = [
        f"{path.relative_to(REPO)}:{line}: {module}"
        for path in sorted((REPO / "tests").rglob("*.py"))
        for line, module in imported_modules(REPO, path)
        if any(part.startswith("test_") for part in module.split(".")[1:])
        and module.startswith("tests.")
    ]
    assert found == []


def test_every_test_module_has_a_name_of_its_own():
    """pytest imports test modules by basename (no packages under tests/): two of one name stop
    the whole run at collection."""
    names = [path.name for path in (REPO / "tests").rglob("test_*.py")]
    assert sorted({name for name in names if names.count(name) > 1}) == []


def test_the_checker_keeps_the_autoscaler_layers_apart_and_the_benchmarks_out(tmp_path: Path):
    policy = tmp_path / "autoscaler" / "policy"
    policy.mkdir(parents=True)
    (policy / "rules.py").write_text(
        "from pathlib import Path\n\nfrom autoscaler.readers.prometheus import Reading\n\n\n"
        "def read(path):\n    return open(path).read()\n"
    )
    (tmp_path / "autoscaler" / "backends").mkdir()
    (tmp_path / "autoscaler" / "backends" / "x.py").write_text(
        "from autoscaler.policy.victims import choose_victims\n"
    )
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "b.py").write_text("from autoscaler.controller import loop\n")
    (tmp_path / "spawner").mkdir()
    (tmp_path / "spawner" / "s.py").write_text("import benchmarks.policies\n")

    assert layering_violations(tmp_path) == [
        "spawner/s.py:1: spawner.s -> benchmarks.policies (what ships never imports what does not)",
        "autoscaler/policy/rules.py:1: autoscaler.policy.rules -> pathlib"
        " (the policy is pure: no I/O, no clock)",
        "autoscaler/policy/rules.py:3: autoscaler.policy.rules -> autoscaler.readers.prometheus"
        " (the policy imports no other layer)",
        "autoscaler/backends/x.py:1: autoscaler.backends.x -> autoscaler.policy.victims"
        " (backends run what the controller decided)",
    ]
    assert io_calls(tmp_path) == ["autoscaler/policy/rules.py:7: open()"]


def test_the_hub_image_ships_every_package_the_hub_and_the_usage_service_import():
    """The hub (hub_config, spawner) and the usage service run from the hub image: each package
    of ours they import, directly or through another, is copied into it."""
    dockerfile = (REPO / "images" / "hub" / "Dockerfile").read_text(encoding="utf-8")
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, re.MULTILINE))
    needed, todo = set(), ["hub_config", "spawner", "usage"]
    while todo:
        package = todo.pop()
        needed.add(package)
        for path in (REPO / package).rglob("*.py"):
            for _, module in imported_modules(REPO, path):
                top = module.split(".")[0]
                if top in OURS and top not in needed:
                    todo.append(top)
    assert needed - copied == set()
