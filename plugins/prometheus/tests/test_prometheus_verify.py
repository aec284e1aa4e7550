"""The corruption gauges: what the last ``dss verify`` found, labelled by job, from a
real verify of real snapshots."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from plugins.prometheus.tests.conftest import Metrics

RunDss = Callable[..., subprocess.CompletedProcess[str]]  # the run_dss fixture


def test_a_verify_sets_the_corrupt_files_gauge(
    run_dss: RunDss, read_metrics: Callable[[Path], Metrics], tmp_path: Path
) -> None:
    if shutil.which("rsync") is None:
        if os.environ.get("CI"):
            pytest.fail("rsync is not installed (CI must install it)")
        pytest.skip("rsync is not installed")
    source, dest = tmp_path / "source", tmp_path / "dest"
    source.mkdir()
    dest.mkdir()
    (source / "a.bin").write_bytes(os.urandom(3000))
    (source / "b.txt").write_text("beta\n")
    textfile = tmp_path / "textfile" / "dss.prom"
    textfile.parent.mkdir()
    config = tmp_path / "dss.toml"
    config.write_text(
        f'source-dir = "{source}/"\ndest-dir = "{dest}"\nmin-free-mb = 1\n'
        f'min-free-percent = 0\nnotify = ["prometheus"]\nverify-on-create = true\n'
        f'[plugins.prometheus]\ntextfile = "{textfile}"\n'
    )
    run_dss("--config", str(config), "create", check=True)
    d = str(dest)
    assert not read_metrics(textfile).has("verify_corrupt_files")  # no verify yet

    (snapshot,) = [p for p in dest.iterdir() if not p.name.startswith(".")]
    path = snapshot / "a.bin"
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    found = run_dss("--config", str(config), "verify")
    assert found.returncode == 1, found.stderr
    m = read_metrics(textfile)
    assert m.value("verify_corrupt_files", d) == 1
    assert m.value("verify_modified_files", d) == 0
    assert m.value("last_event_timestamp_seconds", d, kind="corruption-found") > 0
    assert m.value("last_verify_timestamp_seconds", d) > 0

    repaired = run_dss("--config", str(config), "verify", "--repair")
    assert repaired.returncode == 0, repaired.stderr
    run_dss("--config", str(config), "verify", check=True)  # clean: no event ...
    run_dss("--config", str(config), "create", check=True)  # ... the next one shows it
    assert read_metrics(textfile).value("verify_corrupt_files", d) == 0
