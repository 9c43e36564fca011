"""Child scripts (Python a test runs in a subprocess) whose patches are checked on import.

A child script patches the harvester by assignment (``index._render_piece = render_piece``,
``index.CSV_PIECE_ROWS = 1``). Once the harvester renames that name, the assignment makes a
new attribute nobody reads: the child runs unpatched, and the test fails minutes later for
a reason that names nothing (no signal came, a timeout), or passes proving nothing. Written
as ``SCRIPT = checked(...)``, each name a script assigns on an imported module or class is
looked up as the test module is imported: a missing one fails its collection, naming it.
"""

from __future__ import annotations

import ast
import importlib
import textwrap
from typing import Any


def checked(script: str) -> str:
    """``script``, once every ``MODULE.NAME = ...`` (or ``CLASS.NAME = ...``) in it assigns
    a name that exists; an AssertionError naming those that do not.

    ``MODULE``/``CLASS`` is a name the script imports (``import harvester.index as index``,
    ``from harvester.pipeline import Harvest``, ``import harvester.store``); assignments to
    anything else (a local object) are the script's own business and not looked at.
    """
    tree = ast.parse(textwrap.dedent(script))
    imported = _imported_names(tree)
    missing = [
        ast.unparse(target)
        for target in _assigned_attributes(tree)
        if (owner := _resolve(target.value, imported)) is not None
        and not hasattr(owner, target.attr)
    ]
    assert not missing, (
        f"a child script patches {', '.join(missing)}, which the harvester no longer has "
        "(renamed?): the child would run unpatched; patch the new name"
    )
    return script


def _imported_names(tree: ast.Module) -> dict[str, str]:
    """Each name the script's imports bind, as the dotted path it stands for."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:  # `import harvester.store` binds `harvester`
                    top = alias.name.split(".")[0]
                    bound[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def _assigned_attributes(tree: ast.Module) -> list[ast.Attribute]:
    """Every ``X.NAME`` the script assigns to (``=``, ``+=``, ``: T =``, unpacking)."""
    found: list[ast.Attribute] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        for target in targets:
            elements = target.elts if isinstance(target, ast.Tuple | ast.List) else [target]
            found += [e for e in elements if isinstance(e, ast.Attribute)]
    return found


def _resolve(expr: ast.expr, imported: dict[str, str]) -> Any:
    """The module or object ``expr`` (``index``, ``harvester.store``, ``pipeline.Harvest``)
    names through the script's imports; None for anything else."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.insert(0, expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name) or expr.id not in imported:
        return None
    path = [*imported[expr.id].split("."), *parts]
    for cut in range(len(path), 0, -1):  # the longest importable module, then attributes
        try:
            owner: Any = importlib.import_module(".".join(path[:cut]))
        except ImportError:
            continue
        for name in path[cut:]:
            owner = getattr(owner, name, None)
        return owner
    return None
