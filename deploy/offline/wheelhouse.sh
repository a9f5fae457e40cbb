#!/usr/bin/env bash
# make wheelhouse: everything the image needs from registries, in one folder, for a build with no
# network (docker build --build-arg WHEELHOUSE=<folder>; docs/deploy.md):
#   <folder>/wheels/          every package of requirements.lock (torch's CPU wheel included), hash-checked
#   <folder>/static-vendor/   the GOV.UK Frontend assets and the site's CSS, as `make setup` builds them
#   <folder>/requirements.lock  the lock the wheels were fetched for
# Run by make with the checkout's .venv and built assets: PY=.venv/bin/python wheelhouse.sh FOLDER
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-deploy/offline/wheelhouse}
py=${PY:-.venv/bin/python}
test -f static/vendor/css/humphrey.css || { echo "static/vendor is not built: run make setup" >&2; exit 1; }
mkdir -p "$out/wheels"
# The files pip picks on this host (CPython 3.11, x86_64, glibc Linux: the lock's platform), which
# install on the Debian bookworm and trixie bases alike. Files already there are re-checked against
# the lock's hashes, not fetched again.
"$py" -m pip download -q --no-deps --require-hashes --dest "$out/wheels" -r requirements.lock 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
# What pip needs to build the few locked source archives (packages that publish no wheel) offline.
"$py" -m pip download -q --only-binary=:all: --dest "$out/wheels" "setuptools>=70" wheel 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
# Drop files no longer in the lock (after make lock changed a version), but the build tools above.
"$py" - "$out/wheels" <<'PY'
import hashlib, re, sys
from pathlib import Path
wanted = set(re.findall(r"sha256:([0-9a-f]{64})", Path("requirements.lock").read_text()))
for f in [*Path(sys.argv[1]).glob("*.whl"), *Path(sys.argv[1]).glob("*.tar.gz")]:
    if f.name.startswith(("setuptools-", "wheel-")):
        continue
    if hashlib.sha256(f.read_bytes()).hexdigest() not in wanted:
        print(f"wheelhouse: removing {f.name} (not in requirements.lock)")
        f.unlink()
PY
rm -rf "$out/static-vendor"
cp -r static/vendor "$out/static-vendor"
rm -f "$out"/static-vendor/.built-*
cp requirements.lock "$out/requirements.lock"
echo "wheelhouse: $out: $(ls "$out/wheels" | wc -l) wheels, $(du -sh "$out" | cut -f1)"
