"""What imports what.

- What a stage process imports before its models: never torch (half a gigabyte resident once
  imported). Only a plug-in that runs on torch imports it, so a stage whose plug-ins run on
  another runtime (OpenVINO, ONNX Runtime) never loads it.
- Which package stands on which, read from the source with ``ast``: no import circle between
  packages, and the ground floor (schemas/, vigil/core/) imports no stage and no app.
"""

from __future__ import annotations

import ast
import functools
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from tests.conftest import REPO
from vigil.core.flow import STAGES

PROBE = """
import importlib, sys
import vigil.apps.cli as cli
cli.build_parser()
from vigil.core.flow import STAGES
from vigil.core.settings import load_settings

def heavy():
    return ",".join(m for m in ("torch", "ultralytics", "facenet_pytorch") if m in sys.modules)

for entry in STAGES:
    importlib.import_module(entry.builder.split(":")[0])
    print(entry.name, heavy())
from processors.vision.device import select_device
print("device", select_device(load_settings(), uses_torch=False).kind, heavy())
"""


def test_no_stage_module_imports_torch_before_a_torch_plugin_is_created() -> None:
    lines = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                           check=True, timeout=120).stdout.splitlines()
    assert lines == [f"{s.name} " for s in STAGES] + ["device cpu "]


WAIT_PROBE = """
import os
from vigil.core.settings import load_settings
from processors.vision.device import set_openmp_wait_policy

def policy(setting, given=None):
    os.environ.pop("OMP_WAIT_POLICY", None)
    if given:
        os.environ["OMP_WAIT_POLICY"] = given
    set_openmp_wait_policy(load_settings(omp_wait_policy=setting))
    return os.environ.get("OMP_WAIT_POLICY", "unset")

print(policy("passive"), policy("library"), policy("passive", "ACTIVE"))
import torch
print(policy("passive"))  # too late once torch is loaded: logged, not applied
"""


def test_openmp_wait_policy_is_set_before_torch_loads_unless_the_environment_says() -> None:
    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    lines = subprocess.run([sys.executable, "-c", WAIT_PROBE], capture_output=True, text=True,
                           check=True, timeout=120, env=environ).stdout.splitlines()
    assert lines == ["PASSIVE unset ACTIVE", "unset"]


# The floors of the project, as import units. A package is split where its parts stand on
# different floors: vigil/core is the ground floor, vigil/apps the top; control/ has three rooms
# that stand on each other in one order (users, cluster, events), with the rest of control/
# (ClientControl, the commands) above them.
UNITS = ("schemas", "vigil.core", "vigil.local", "vigil.backup", "vigil.apps", "ingest",
         "processors", "sinks", "control.users", "control.cluster", "control.events", "control",
         "console")
GROUND = ("schemas", "vigil.core")
ABOVE_GROUND = ("ingest", "processors", "sinks", "control", "console", "vigil.apps")
# Known edges, each to remove when the work named beside it lands: (importing file, module).
KNOWN: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Edge:
    """One import of one unit by another: where it is written and what it names."""

    source: str
    target: str
    path: str
    line: int
    module: str


def _unit(module: str) -> str | None:
    parts = module.split(".")
    for size in (2, 1):
        if ".".join(parts[:size]) in UNITS:
            return ".".join(parts[:size])
    return None


def _known(path: str, module: str) -> bool:
    return any(path == known_path and (module == known or module.startswith(f"{known}."))
               for known_path, known in KNOWN)


def _imported(node: ast.AST, package: str) -> list[str]:
    """The modules an import statement names (``from a import b`` names a and a.b)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:  # relative: resolved against the importing module's package
        anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*anchor, *([base] if base else [])])
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


@functools.cache
def import_edges() -> tuple[Edge, ...]:
    """Every import between two units in the project's source, at module level or inside a
    function (a lazy import is a dependency too), read with ``ast``: nothing is imported."""
    edges: list[Edge] = []
    for top in sorted({unit.split(".")[0] for unit in UNITS}):
        for path in sorted((REPO / top).rglob("*.py")):
            relative = path.relative_to(REPO)
            module = ".".join(relative.with_suffix("").parts)
            package = module if path.name == "__init__.py" else module.rpartition(".")[0]
            source = _unit(module)
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                for name in _imported(node, package):
                    target = _unit(name)
                    if (source is not None and target not in (None, source)
                            and not _known(relative.as_posix(), name)):
                        edges.append(Edge(source, target, relative.as_posix(),
                                          getattr(node, "lineno", 0), name))
    return tuple(edges)


def _cycles(edges: Sequence[Edge]) -> list[list[str]]:
    """The units that reach themselves through imports: one list per strongly connected
    group of more than one unit (Tarjan's algorithm)."""
    graph: dict[str, set[str]] = {unit: set() for unit in UNITS}
    for edge in edges:
        graph[edge.source].add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(unit: str) -> None:
        index[unit] = low[unit] = len(index)
        stack.append(unit)
        for nxt in sorted(graph[unit]):
            if nxt not in index:
                visit(nxt)
                low[unit] = min(low[unit], low[nxt])
            elif nxt in stack:
                low[unit] = min(low[unit], index[nxt])
        if low[unit] == index[unit]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == unit:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for unit in UNITS:
        if unit not in index:
            visit(unit)
    return groups


def _where(edges: Sequence[Edge], among: Sequence[str]) -> list[str]:
    """One line per import statement between the given units."""
    lines = {(e.path, e.line): f"{e.path}:{e.line} imports {e.module} ({e.source} -> {e.target})"
             for e in reversed(edges) if e.source in among and e.target in among}
    return sorted(lines.values())


def test_the_import_edges_are_read() -> None:
    """The reader sees imports at module level and inside functions (a check of the check)."""
    found = {(e.path, e.module) for e in import_edges()}
    assert ("control/cli.py", "control.users.repository") in found  # module level
    assert ("vigil/apps/cli.py", "vigil.apps.bench.cli") not in found  # same unit
    assert ("vigil/apps/clients_cli.py", "sinks.evidence_store") in found  # in a function


def test_no_import_circle_between_packages() -> None:
    edges = import_edges()
    circles = _cycles(edges)
    assert not circles, "import circles:\n" + "\n".join(
        f"{' <-> '.join(group)}:\n  " + "\n  ".join(_where(edges, group)) for group in circles)


def test_the_ground_floor_imports_no_stage_or_app() -> None:
    """schemas/ and vigil/core/ stand on nothing above them; schemas/ on nothing of Vigil."""
    wrong = sorted({(e.path, e.line): f"{e.path}:{e.line} imports {e.module}"
                    for e in reversed(import_edges())
                    if (e.source in GROUND and _floor(e.target) in ABOVE_GROUND)
                    or e.source == "schemas"}.values())
    assert not wrong, "the ground floor reaches up:\n" + "\n".join(wrong)


def _floor(unit: str) -> str:
    return "control" if unit.startswith("control.") else unit
