"""Each part's extra (pyproject.toml) declares every third-party package its code imports, so
an image built with `PANEAS_EXTRAS=<part>` runs that part and installs no other engine.

Read statically (every import in every module the part reaches through `paneas` imports,
function-level imports included), so a lazily imported engine counts too; nothing is run.
"""

import ast
import importlib.metadata
import importlib.util
import re
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

from tests.support import REPO

PARTS = {
    "gateway": ["paneas.gateway.app", "paneas.gateway.__main__"],
    "asr": ["paneas.services.asr.__main__"],
    "llm": ["paneas.services.llm.__main__"],
    "ocr": ["paneas.services.ocr.__main__"],
    "tts": ["paneas.services.tts.__main__"],
}
# Imported only where the part is not running as its extra installs it, each for a reason.
NOT_DECLARED = {
    # services/llm/engines/vllm.py runs inside vLLM's own venv (scripts/setup-vllm.sh).
    "vllm",
}
# Modules that exist for tests and benches (they name the `dev` extra themselves).
DEV_ONLY = {"paneas.services.asr.evaluation"}


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


@cache
def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


@cache
def _installed_closure(names: frozenset[str]) -> frozenset[str]:
    """The distributions `names` pull in, transitively (as installed here)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        todo.extend(_requirement_name(r) for r in requires if "extra ==" not in r)
    return frozenset(seen)


def _declared(part: str) -> frozenset[str]:
    project = _pyproject()
    direct = [*project["dependencies"], *project["optional-dependencies"][part]]
    return _installed_closure(frozenset(_requirement_name(r) for r in direct))


def _source(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:  # `from paneas.x import name`: a name, not a module
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _imports(path: Path, module: str) -> set[str]:
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            names.add(target)
            # `from paneas.x import y` may name the submodule y.
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


def _third_party_modules(entries: list[str]) -> set[str]:
    """Top-level third-party modules imported anywhere in what `entries` reach."""
    seen: set[str] = set()
    third_party: set[str] = set()
    todo = list(entries)
    while todo:
        module = todo.pop()
        if module in seen or module in DEV_ONLY:
            continue
        seen.add(module)
        if module.split(".")[0] != "paneas":
            third_party.add(module.split(".")[0])
            continue
        path = _source(module)
        if path is None:
            continue
        todo.extend(_imports(path, module))
        # A package's __init__ runs before any of its modules.
        parent = module.rpartition(".")[0]
        if parent:
            todo.append(parent)
    return {name for name in third_party if name not in sys.stdlib_module_names}


@pytest.mark.parametrize("part", PARTS)
def test_extra_declares_every_package_the_part_imports(part):
    distributions = importlib.metadata.packages_distributions()
    declared = _declared(part)
    missing = {}
    for module in sorted(_third_party_modules(PARTS[part])):
        if module in NOT_DECLARED:
            continue
        owners = {name.lower().replace("_", "-") for name in distributions.get(module, [])}
        assert owners, f"{part} imports {module}, which no installed distribution provides"
        if not owners & declared:
            missing[module] = sorted(owners)
    assert not missing, (
        f"{part} imports packages its extra does not declare (add them to "
        f"[project.optional-dependencies].{part} or the core dependencies): {missing}"
    )


def test_all_is_every_part():
    optional = _pyproject()["optional-dependencies"]
    assert optional["all"] == [f"paneas-stack[{','.join(PARTS)}]"]


def test_gateway_extra_pulls_no_engine():
    engines = {"faster-whisper", "ctranslate2", "llama-cpp-python", "tesserocr", "piper-tts"}
    assert not engines & _declared("gateway")
