"""The native module's stubs (python/crm/_core.pyi) match what it really exports."""

from __future__ import annotations

import subprocess
import sys


def test_core_stubs_match_the_compiled_module():
    out = subprocess.run([sys.executable, "-m", "mypy.stubtest", "crm._core"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
