"""Maps the repository's directories under the single import name `paneas`.

The generated contracts form `paneas.<service>.v1` (their import paths are fixed by the proto
packages); the hand-written services and gateway join them as `paneas.services` and
`paneas.gateway`, so nothing but `paneas` lands in site-packages. Everything else about the
distribution is in pyproject.toml.
"""

from setuptools import find_namespace_packages, setup

ROOTS = {"paneas": "gen/python/paneas", "paneas.services": "services", "paneas.gateway": "gateway"}


def packages() -> list[str]:
    found = []
    for name, directory in ROOTS.items():
        found.append(name)
        # Namespace discovery: Alembic's migrations/ and versions/ are folders of modules
        # without __init__.py, and must ship too.
        subpackages = find_namespace_packages(directory, exclude=["*__pycache__*"])
        found.extend(f"{name}.{sub}" for sub in subpackages)
    return found


# Alembic's revision template, the LLM catalogue and the UI's files are not modules.
PACKAGE_DATA = {
    "paneas.gateway.analytics.migrations": ["*.mako"],
    "paneas.services.llm": ["catalogue.yaml"],
    # The browser UI: plain files, served as they are.
    "paneas.gateway.static": ["*.html", "*.js", "*.css", "*.svg"],
}

setup(packages=packages(), package_dir=ROOTS, package_data=PACKAGE_DATA)
