"""The plugin-authoring guide in CONTRIBUTING.md is true: its example is the real
distribution in docs/examples/dss-example, which installs with pip and works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from dssframe.core import naming
from dsstest import RunDss

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "dss-example"


def test_guide_shows_exactly_the_example_files() -> None:
    guide = (ROOT / "CONTRIBUTING.md").read_text()
    blocks = re.findall(r"```(?:python|toml)\n# (docs/examples/\S+)\n(.*?)```", guide, re.S)
    assert {path for path, _ in blocks} == {
        "docs/examples/dss-example/keepnewest.py",
        "docs/examples/dss-example/eventlog.py",
        "docs/examples/dss-example/pyproject.toml",
    }
    for path, body in blocks:
        assert body == (ROOT / path).read_text(), path


def test_example_installs_with_pip_and_works(
    run_dss: RunDss, tmp_path: Path, dest: Path
) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps",
         "--target", str(target), str(EXAMPLE)],
        check=True, capture_output=True, timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    listing = run_dss("plugins", env=env, check=True)
    assert "keepnewest 1.0 (retention) from entry point (dss-example)" in listing.stdout
    assert "eventlog 1.0 (notify) from entry point (dss-example)" in listing.stdout

    now = int(time.time())
    names = sorted(naming.complete_name(now - 100 * i - 10, now - 100 * i - 5) for i in range(5))
    for name in names:
        (dest / name).mkdir()
    log = tmp_path / "events.log"
    config = tmp_path / "config.toml"
    config.write_text(
        f'dest-dir = "{dest}"\nretention = "keep-newest"\nnotify = ["eventlog"]\n'
        f'[plugins.keepnewest]\ncount = 2\n[plugins.eventlog]\npath = "{log}"\n'
    )
    dry = run_dss("--config", str(config), "--dry-run", "prune", env=env, check=True)
    assert dry.stdout.count("beyond keep-newest") == 3
    run_dss("--config", str(config), "prune", env=env, check=True)
    assert sorted(p for p in os.listdir(dest) if p != ".dssframe") == names[-2:]
    removed = [line.split()[1] for line in log.read_text().splitlines()]
    assert removed == names[:3]
