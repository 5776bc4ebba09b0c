"""Dependencies point one way: core <- stages (ingest, detectors, alerts) <- runtimes (and drills) <- api and cli.

Every import in every module of the installed ``fenghuo`` namespace is read (module level and inside
functions alike, TYPE_CHECKING blocks included) and checked against its layer. A module may import
its own layer or those below, never one above: a stage never reaches into a runtime, the kernel never
into a stage, and nothing below the API knows it exists.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import fenghuo_modules

LAYERS = (  # (prefix, layer): the longest matching prefix wins
    ("fenghuo", 0),  # the package itself: its version
    ("fenghuo.core", 0),
    ("fenghuo.demo", 0),  # bundled demo data and the example config
    ("fenghuo.ingest", 1),
    ("fenghuo.detectors", 1),
    ("fenghuo.alerts", 1),
    ("fenghuo.runtime", 2),
    ("fenghuo.drills", 2),  # drill runs: scenarios played through a runtime's service
    ("fenghuo.api", 3),
    ("fenghuo.cli", 3),
    ("fenghuo.__main__", 3),
)
NAMES = {0: "core", 1: "stages", 2: "runtimes", 3: "api and cli"}


def layer_of(module: str) -> int:
    best = max((p for p, _ in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return dict(LAYERS)[best]


def modules() -> dict[str, Path]:
    return fenghuo_modules()


def imports_of(name: str, path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # ``from fenghuo import api`` imports fenghuo.api: each name may be a module of the package
            found += [(node.lineno, f"{target}.{a.name}") for a in node.names if a.name != "*"]
    return [(line, t) for line, t in found if t == "fenghuo" or t.startswith("fenghuo.")]


def test_every_module_of_the_namespace_is_seen() -> None:
    names = modules()
    for part in ("core", "ingest", "detectors", "alerts", "runtime", "api", "cli"):
        assert any(n.startswith(f"fenghuo.{part}.") for n in names), part


def test_no_import_points_up_the_layers() -> None:
    upward = []
    for name, path in sorted(modules().items()):
        mine = layer_of(name)
        for line, target in imports_of(name, path):
            if layer_of(target) > mine:
                upward.append(f"{path}:{line}: {name} ({NAMES[mine]}) imports {target} ({NAMES[layer_of(target)]})")
    assert not upward, "imports pointing up the layers:\n" + "\n".join(upward)


def test_the_two_runtimes_do_not_import_each_other() -> None:
    crossing = []
    for name, path in sorted(modules().items()):
        for runtime, other in (("fenghuo.runtime.embedded", "fenghuo.runtime.kafka"),
                               ("fenghuo.runtime.kafka", "fenghuo.runtime.embedded")):
            if name.startswith(runtime):
                crossing += [f"{path}:{line}: {name} imports {t}" for line, t in imports_of(name, path)
                             if t.startswith(other)]
    assert not crossing, "\n".join(crossing)
