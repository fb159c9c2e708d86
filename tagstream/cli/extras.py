"""Which extra of `tagstream` installs a missing module, read from the installed package's own
requirements (pyproject.toml's optional dependencies), so that a command run in a role install that
lacks it can say what to install."""

from __future__ import annotations

import re
from importlib import metadata

#: import names that differ from their distribution's name
DISTRIBUTION_OF = {"sklearn": "scikit-learn", "pytriton": "nvidia-pytriton", "yaml": "pyyaml"}
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9._-]+)[^;]*;.*\bextra\s*==\s*['\"]([^'\"]+)['\"]")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def extra_for(module: str) -> str | None:
    """The first extra whose requirements include the distribution that provides `module` (its top
    level), or None (not one of ours, or the package metadata is not installed)."""
    wanted = _canonical(DISTRIBUTION_OF.get(module.split(".")[0], module.split(".")[0]))
    try:
        requirements = metadata.requires("tagstream") or []
    except metadata.PackageNotFoundError:
        return None
    for requirement in requirements:
        m = _REQUIREMENT.match(requirement)
        if m and _canonical(m.group(1)) == wanted:
            return m.group(2)
    return None
