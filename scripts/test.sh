#!/usr/bin/env bash
# Install what the tests need, build the extension (release), run every test: cargo and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e '.[test]'
cargo test --quiet
cargo test --quiet --features python py::   # the binding layer's own tests (the allocator)
python -m pytest -q
