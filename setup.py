"""Maps the repository's directories under the single import name `paneas`.

The generated contracts form `paneas.<service>.v1` (their import paths are fixed by the proto
packages); the hand-written services and gateway join them as `paneas.services` and
`paneas.gateway`, so nothing but `paneas` lands in site-packages. Everything else about the
distribution is in pyproject.toml.
"""

from setuptools import find_packages, setup

ROOTS = {"paneas": "gen/python/paneas", "paneas.services": "services", "paneas.gateway": "gateway"}


def packages() -> list[str]:
    found = []
    for name, directory in ROOTS.items():
        found.append(name)
        found.extend(f"{name}.{sub}" for sub in find_packages(directory))
    return found


# Alembic reads its environment and revisions as files, not as packages.
PACKAGE_DATA = {
    "paneas.gateway": [
        "analytics/migrations/*.py",
        "analytics/migrations/*.mako",
        "analytics/migrations/versions/*.py",
    ]
}

setup(packages=packages(), package_dir=ROOTS, package_data=PACKAGE_DATA)
