"""Write requirements.lock: the image's dependencies pinned to what .venv has, with sha256 hashes.

    .venv/bin/python deploy/offline/lock.py [--out requirements.lock]

The pins are the closure of pyproject.toml's [project] dependencies (no extras of the project itself:
the image has no test tools) as installed in the running interpreter's environment, so the image gets
the versions the suite was run against. Each pinned file is fetched with `pip download --no-deps`
(torch's CPU wheel from pip's configured find-links, or from PyTorch's CPU index with
PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu where that is reachable) and hashed;
pip then installs with --require-hashes in both of the Dockerfile's paths.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def closure(requirements: list[str], floor: str) -> tuple[dict[str, str], list[Requirement]]:
    """Installed name -> version for every distribution the requirements need, with markers evaluated
    for this interpreter and for Python ``floor``; and the requirements only ``floor`` needs that are
    not installed here (e.g. a backport for Python < 3.11.3)."""
    here = default_environment()
    envs = [here, {**here, "python_full_version": floor, "python_version": ".".join(floor.split(".")[:2])}]
    pins: dict[str, str] = {}
    floor_only: list[Requirement] = []
    todo: list[tuple[Requirement, frozenset[str]]] = [(Requirement(r), frozenset([""])) for r in requirements]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req, extras_of_parent = todo.pop()
        applies = [
            not req.marker or any(req.marker.evaluate({**env, "extra": e}) for e in extras_of_parent) for env in envs
        ]
        if not any(applies):
            continue
        name = canonicalize_name(req.name)
        key = (name, frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            if not applies[0]:
                floor_only.append(req)
                continue
            sys.exit(f"{req.name} is required but not installed in {sys.prefix}: run make setup first")
        if not req.specifier.contains(dist.version.split("+")[0], prereleases=True):
            sys.exit(f"installed {req.name} {dist.version} does not satisfy {req}")
        pins[name] = dist.version
        wanted = frozenset(["", *req.extras])
        for sub in dist.requires or []:
            todo.append((Requirement(sub), wanted))
    return pins, floor_only


def newest_for(requirement: str, floor: str, tmp: Path) -> str:
    """The version pip would take for ``requirement`` on Python ``floor`` (a wheel, no dependencies)."""
    dest = tmp / f"floor-{canonicalize_name(Requirement(requirement).name)}"
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
    subprocess.run([*pip, "--python-version", floor, "--dest", str(dest), requirement], check=True)
    (wheel,) = dest.glob("*.whl")
    return wheel.name.split("-")[1]


def fit_floor(pins: dict[str, str], floor: str, tmp: Path) -> list[str]:
    """Pins that cannot install on Python ``floor`` moved to the newest release that can; notes saying so."""
    notes = []
    for name, version in sorted(pins.items()):
        requires = metadata.distribution(name).metadata.get("Requires-Python")
        if not requires or SpecifierSet(requires).contains(floor):
            continue
        pins[name] = newest_for(name, floor, tmp)
        notes.append(f"# {name}: {version} in .venv needs Python {requires}; {pins[name]} is the newest for {floor}")
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "requirements.lock"))
    parser.add_argument(
        "--python-floor",
        default="3.11.2",
        help="oldest Python the lock must install on (default: Debian bookworm's, the offline stand-in's)",
    )
    args = parser.parse_args()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins, floor_only = closure(project["dependencies"], args.python_floor)
    with tempfile.TemporaryDirectory() as tmp:
        notes = fit_floor(pins, args.python_floor, Path(tmp))
        for req in floor_only:
            name = canonicalize_name(req.name)
            pins[name] = newest_for(f"{req.name}{req.specifier}", args.python_floor, Path(tmp))
            notes.append(f"# {name}: not in .venv; needed on Python {args.python_floor} ({req})")
        lines = [f"{name}=={version}" for name, version in sorted(pins.items())]
        reqs = Path(tmp) / "pins.txt"
        reqs.write_text("\n".join(lines) + "\n")
        hashes: dict[str, set[str]] = {}
        # Twice: the files pip picks here, and those it would pick on a newer glibc (the official
        # python:3.11-slim is Debian trixie, glibc 2.41), so either base installs with --require-hashes.
        # --prefer-binary, not --only-binary: a few pure-Python packages publish no wheel (extract-msg's
        # red-black-tree-mod); their source archive is locked and built in the image.
        trixie = ["--prefer-binary", "--python-version", args.python_floor]
        for tag in [*(f"manylinux_2_{y}" for y in range(41, 4, -1)), "manylinux2014", "manylinux2010", "manylinux1"]:
            trixie += ["--platform", f"{tag}_x86_64"]
        for n, platform in enumerate([[], trixie]):
            dest = Path(tmp) / f"files{n}"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "-q",
                    "--no-deps",
                    "--dest",
                    str(dest),
                    *platform,
                    "-r",
                    str(reqs),
                ],
                check=True,
            )
            for f in sorted(dest.iterdir()):
                # name-version[-...].whl or name-version.tar.gz / .zip
                m = re.match(r"(.+?)-(\d[^-]*?)(?:-|\.tar\.gz$|\.zip$)", f.name)
                if not m:
                    sys.exit(f"cannot tell the project of {f.name}")
                digest = hashlib.sha256(f.read_bytes()).hexdigest()
                hashes.setdefault(canonicalize_name(m.group(1)), set()).add(digest)
    missing = sorted(set(pins) - set(hashes))
    if missing:
        sys.exit(f"no file downloaded for {', '.join(missing)}")
    out = [
        "# The image's Python dependencies, pinned with hashes. Generated by deploy/offline/lock.py from .venv",
        "# (make lock); do not edit by hand. torch is the CPU build (+cpu): PyTorch's CPU index, or the",
        "# wheelhouse made by make wheelhouse. Hashes: the files for CPython 3.11 on x86_64 Linux, glibc 2.36",
        "# and 2.41 (the Debian bookworm and trixie bases).",
        *notes,
    ]
    for name, version in sorted(pins.items()):
        out.append(f"{name}=={version} \\")
        digests = sorted(hashes[name])
        out.extend(f"    --hash=sha256:{h} \\" for h in digests[:-1])
        out.append(f"    --hash=sha256:{digests[-1]}")
    Path(args.out).write_text("\n".join(out) + "\n")
    print(f"{args.out}: {len(pins)} packages")


if __name__ == "__main__":
    main()
