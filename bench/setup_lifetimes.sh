#!/usr/bin/env bash
# Create bench/.venv-lifetimes: the pinned `lifetimes` environment that bench/bench_clv.py runs
# its lifetimes rows in (see bench/requirements-lifetimes.txt).  Needs Python >= 3.11 with venv
# and pip, and PyPI.  Re-running it rebuilds the venv from scratch.
#
#   bash bench/setup_lifetimes.sh              # with python3 (or $PYTHON)
#   PYTHON=python3.11 bash bench/setup_lifetimes.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-lifetimes"
python="${PYTHON:-python3}"

"$python" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"setup_lifetimes.sh: needs Python >= 3.11 (the pins are for it), got {sys.version.split()[0]}; "
             "set PYTHON=/path/to/python3.11")
PY

rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q \
    -r "$here/requirements-lifetimes.txt"

# Smoke test: lifetimes imports, fits BG/NBD on its bundled CDNOW summary and gets the published
# estimates (Fader, Hardie and Lee 2005: r 0.243, alpha 4.414, a 0.793, b 2.426).
"$venv/bin/python" - <<'PY'
import warnings

warnings.simplefilter("ignore")
from lifetimes import BetaGeoFitter
from lifetimes.datasets import load_cdnow_summary

d = load_cdnow_summary(index_col=[0])
p = BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"]).params_
expected = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
bad = {k: round(float(p[k]), 4) for k, v in expected.items() if abs(p[k] - v) > 0.001 * max(1.0, v)}
if bad:
    raise SystemExit(f"setup_lifetimes.sh: lifetimes installed but BG/NBD on CDNOW gives {bad}, expected {expected}")
print("lifetimes OK:", {k: round(float(v), 4) for k, v in p.items()})
PY
echo "created $venv"
