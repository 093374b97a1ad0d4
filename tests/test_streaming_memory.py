"""The streaming CLI under an enforced memory cap well below the data's in-memory size: a 100M-row
Parquet log (2.4 GB in memory) is read slice by slice in a subprocess confined to 700 MiB by a
memory cgroup, and its output equals the in-memory crm.rfm of the whole log.

The child's peak resident memory is also checked against the cap after the run, which is
the whole check where no memory cgroup can be made (no permission)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import crm

ROWS = 100_000_000
FILES = 10
CUSTOMERS = 500_000
CAP_BYTES = 700 << 20


# The CLI, then its peak resident memory (VmHWM, kB) as the last stderr line.
CLI_REPORTING_PEAK = (
    "import sys; from crm.cli import main; r = main(sys.argv[1:]); "
    "print('VmHWM', open('/proc/self/status').read().split('VmHWM:')[1].split()[0], file=sys.stderr); sys.exit(r)"
)


def write_log(folder: Path, rows: int, customers: int, files: int) -> int:
    """A date-ordered log (crm.datasets.synthetic_rows, one date range per file) in `files`
    Parquet files; returns its in-memory size in bytes."""
    size = 0
    for f in range(files):
        start = np.datetime64("2023-01-01") + 40 * f
        table = crm.datasets.synthetic_rows(rows // files, n_customers=customers, seed=f, start=str(start),
                                            end=str(start + 39)).select(["customer_id", "order_date", "amount"])
        size += table.nbytes
        pq.write_table(table, folder / f"part-{f:03d}.parquet", row_group_size=1 << 20)
    return size


def memory_cgroup(cap: int) -> Path | None:
    """A fresh memory cgroup limited to ``cap`` bytes (v1 or v2), or None without permission."""
    name = f"crm-test-{os.getpid()}"
    for root, limit in (("/sys/fs/cgroup/memory", "memory.limit_in_bytes"), ("/sys/fs/cgroup", "memory.max")):
        group = Path(root) / name
        try:
            group.mkdir()
        except OSError:
            continue
        try:
            (group / limit).write_text(str(cap))
            swap = group / "memory.memsw.limit_in_bytes"  # v1: no escape into swap either
            if swap.exists():
                swap.write_text(str(cap))
            if root.endswith("cgroup"):
                (group / "memory.swap.max").write_text("0")
            return group
        except OSError:
            group.rmdir()
    return None


@pytest.fixture(scope="module")
def big_log(tmp_path_factory):
    folder = tmp_path_factory.mktemp("big-log")
    return folder, write_log(folder, ROWS, CUSTOMERS, FILES)


def test_the_streaming_cli_runs_under_a_memory_cap_well_below_the_data(big_log, tmp_path):
    folder, in_memory_bytes = big_log
    assert CAP_BYTES < 0.33 * in_memory_bytes
    out = tmp_path / "rfm.parquet"
    group = memory_cgroup(CAP_BYTES)
    enter = (lambda: (group / "cgroup.procs").write_text(str(os.getpid()))) if group else None
    try:
        run = subprocess.run(
            [sys.executable, "-c", CLI_REPORTING_PEAK, "rfm", str(folder / "*.parquet"), "-o", str(out)],
            preexec_fn=enter, capture_output=True, text=True,
        )
    finally:
        if group:
            group.rmdir()
    assert run.returncode == 0, f"exit {run.returncode} under a {CAP_BYTES >> 20} MB cap: {run.stderr[-2000:]}"
    peak = int(run.stderr.strip().splitlines()[-1].split()[1]) * 1024
    assert peak < CAP_BYTES, f"peak resident memory {peak >> 20} MB above the {CAP_BYTES >> 20} MB cap"
    got = pq.read_table(out)
    expected = crm.rfm(pq.read_table(folder))
    assert got.num_rows == expected.num_rows > 0.99 * CUSTOMERS
    for name in expected.column_names:
        if name == "monetary":
            np.testing.assert_allclose(got[name].to_numpy(), expected[name].to_numpy(), rtol=1e-12)
        else:
            assert got[name].equals(expected[name]), name
