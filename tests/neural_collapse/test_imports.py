"""No import cycles between the neural-collapse modules (issue 7: config <-> train).

Every ``import`` / ``from ... import`` of a sibling module counts, at any depth (a lazy
import inside a function is still a cycle in the design); package ``__init__`` files,
which only re-export, are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import orthoviz.neural_collapse as pkg

PKG = pkg.__name__


def _graph() -> dict[str, set[str]]:
    root = Path(pkg.__file__).parent
    mods = {p.stem for p in root.glob("*.py") if p.stem != "__init__"}
    graph = {}
    for m in mods:
        tree = ast.parse((root / f"{m}.py").read_text())
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            deps |= {n.split(".")[2] for n in names
                     if n.startswith(PKG + ".") and n.split(".")[2] in mods}
        graph[m] = deps - {m}
    return graph


def test_package_import_graph_is_acyclic():
    graph, state = _graph(), {}

    def visit(m, path):
        if state.get(m) == "done":
            return
        assert state.get(m) != "open", "import cycle: " + " -> ".join(path + [m])
        state[m] = "open"
        for d in sorted(graph[m]):
            visit(d, path + [m])
        state[m] = "done"

    for m in sorted(graph):
        visit(m, [])
    assert "train" in graph["config"] and "config" not in graph["train"]
