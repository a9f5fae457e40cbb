"""The image installs requirements.lock and nothing else: every runtime dependency must be in it.

A dependency added to pyproject.toml without `make lock` would be missing from the image only,
and fail there at the first use of whatever needed it; this fails here instead.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def test_every_runtime_dependency_is_locked_for_the_image():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = {
        canonicalize_name(m.group(1)): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements.lock").read_text(), re.M)
    }
    missing, outside = [], []
    for line in project["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        if name not in locked:
            missing.append(line)
        elif not requirement.specifier.contains(locked[name].split("+")[0], prereleases=True):
            outside.append(f"{line} (locked {locked[name]})")
    assert not missing, f"not in requirements.lock (run make lock): {missing}"
    assert not outside, f"locked outside pyproject.toml's range (run make lock): {outside}"
