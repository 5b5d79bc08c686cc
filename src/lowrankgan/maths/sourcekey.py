"""What the Jacobian cache keys on besides the model and the code: every source file of the library
that the adapter's module and the Jacobian code import (followed through the imports, so StyleGAN3's
key covers StyleGAN2's mapping network), and the versions of the outside packages those files import
(torch, and for BigGAN ``pytorch_pretrained_biggan``, whose network defines its images).

Imports are read from the source text, including those inside functions, which is where optional
packages are imported. A package's ``__init__`` counts when a file imports the package
itself, not when it only imports one of its modules.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import re
import sys
from pathlib import Path

LIBRARY = "lowrankgan"
_ROOT = Path(__file__).resolve().parents[1]  # src/lowrankgan
JACOBIAN_MODULE = f"{LIBRARY}.maths.jacobian"


def module_file(name: str) -> Path | None:
    """The source file of library module ``name`` (``lowrankgan.a.b``), None for anything else
    (an outside module, or a name imported from a module rather than a module)."""
    parts = name.split(".")
    if parts[0] != LIBRARY:
        return None
    base = _ROOT.joinpath(*parts[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


# An import statement at the start of a line, with a parenthesised name list over several lines.
_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+[.\w]+[ \t]+import[ \t]+(?:\([^)]*\)|[^\n]*)|import[ \t]+[^\n]*)", re.M)


def imported_names(path: Path, module: str) -> set[str]:
    """Absolute names of what ``path`` (module ``module``) imports: modules, and for ``from X import
    y`` both ``X`` and ``X.y`` (``y`` may be a submodule). Only the import lines are parsed (a
    whole-file parse costs ten times more); a line in a docstring that reads like an import can
    only add a file to the key, never drop one."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    names: set[str] = set()
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    for match in _IMPORT.finditer(text):
        try:
            nodes = ast.parse(match.group(0).strip()).body
        except SyntaxError:  # prose in a docstring
            continue
        for node in nodes:
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                target = ".".join(base + (node.module.split(".") if node.module else []))
                if target and target != "__future__":
                    names.add(target)
                    names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


def _own_file(name: str) -> Path | None:
    """A library module's file, or for a module defined elsewhere (an adapter in a user's or a
    test's module) the file it was loaded from."""
    path = module_file(name)
    if path is None and name.split(".")[0] != LIBRARY:
        found = getattr(sys.modules.get(name), "__file__", None)
        path = Path(found) if found and found.endswith(".py") else None
    return path


def import_closure(*modules: str) -> tuple[list[Path], list[str]]:
    """The source files of ``modules`` and of the library modules they import, directly or through
    each other (sorted), and the top-level outside packages these import (sorted, standard library
    left out)."""
    files: dict[Path, str] = {}
    outside: set[str] = set()
    todo = [(name, _own_file(name)) for name in modules]
    while todo:
        name, path = todo.pop()
        if path is None:
            top = name.split(".")[0]
            if top != LIBRARY and top not in sys.stdlib_module_names:
                outside.add(top)
            continue
        if path in files:
            continue
        files[path] = name
        todo.extend((n, module_file(n)) for n in imported_names(path, name))
    return sorted(files), sorted(outside)


def package_version(name: str) -> str:
    """The installed version of top-level package ``name`` ("absent" when it is not installed)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        pass
    if importlib.util.find_spec(name) is None:
        return "absent"
    # An import name that is not its distribution's (PIL is Pillow's): the module's own version
    # (the library imports it anyway), else the slow search of every installed distribution.
    version = getattr(importlib.import_module(name), "__version__", None)
    if isinstance(version, str):
        return version
    dists = importlib.metadata.packages_distributions().get(name) or []
    return ",".join(sorted(importlib.metadata.version(d) for d in dists)) or "unknown"


@functools.cache
def code_fingerprint(adapter_class: type) -> str:
    """sha256 over the library source of ``adapter_class``'s module and of the Jacobian code
    (``import_closure``) and the versions of the outside packages they import: a change to any of
    them invalidates cached Jacobians without a manual version bump."""
    files, outside = import_closure(adapter_class.__module__, JACOBIAN_MODULE)
    digest = hashlib.sha256()
    for path in files:
        digest.update((str(path.relative_to(_ROOT)) if path.is_relative_to(_ROOT) else path.name).encode() + b"\0")
        digest.update(path.read_bytes())
    for name in outside:
        digest.update(f"{name}=={package_version(name)}\0".encode())
    return digest.hexdigest()[:16]
