"""``dss configtest`` runs create's pre-flight checks (issue 13): one line per check on
stderr (ok / FAIL / warn), exit 1 when one fails, 2 for an invalid configuration, and
``--json``. Real processes, real mounts (tests/faultfs.py) and the real test sshd."""

from __future__ import annotations

import json
import os
import socket
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

import faultfs
from dssframe.core.config import to_toml
from dsstest import RunDss
from sshd import SshServer, free_port

pytestmark = pytest.mark.usefixtures("rsync")


def check_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line[:5] in ("ok   ", "FAIL ", "warn ")]


def failures(stderr: str) -> list[str]:
    return [line for line in check_lines(stderr) if line.startswith("FAIL ")]


def opts(source: Path | str, dest: Path | str) -> list[str]:
    return ["--source-dir", str(source), "--dest-dir", str(dest)]


@pytest.fixture
def private_dest(dest: Path) -> Path:
    dest.chmod(0o700)  # no root-exposure warning
    return dest


def test_everything_fine_is_all_ok_and_exit_zero(
    run_dss: RunDss, source: Path, private_dest: Path
) -> None:
    result = run_dss(*opts(f"{source}/", private_dest), "configtest")
    assert result.returncode == 0, result.stderr
    lines = check_lines(result.stderr)
    assert lines and all(line.startswith("ok    ") for line in lines), result.stderr
    assert f"ok    source-dir {source}/ exists" in lines
    assert f"ok    dest-dir {private_dest} is a directory" in lines
    assert result.stderr.splitlines()[-1] == "# configuration OK"
    assert tomllib.loads(result.stdout)["dest-dir"] == str(private_dest)  # settings kept


def test_no_config_at_all_fails(run_dss: RunDss) -> None:
    result = run_dss("configtest")
    assert result.returncode == 1
    assert failures(result.stderr) == [
        "FAIL  source-dir is not set",
        "FAIL  dest-dir is not set",
    ]
    assert result.stderr.splitlines()[-1] == "# 2 check(s) failed"


def test_missing_source_fails(run_dss: RunDss, tmp_path: Path, private_dest: Path) -> None:
    missing = tmp_path / "unmounted"
    result = run_dss(*opts(f"{missing}/", private_dest), "configtest")
    assert result.returncode == 1
    assert failures(result.stderr) == [f"FAIL  source-dir {missing} does not exist"]
    assert "configuration OK" not in result.stderr


def test_missing_dest_fails(run_dss: RunDss, source: Path, tmp_path: Path) -> None:
    missing = tmp_path / "backup"
    result = run_dss(*opts(f"{source}/", missing), "configtest")
    assert result.returncode == 1
    assert failures(result.stderr) == [f"FAIL  dest-dir {missing} does not exist"]
    assert not missing.exists()


def test_read_only_dest_fails(run_dss: RunDss, source: Path, tmp_path: Path) -> None:
    target = tmp_path / "ro"
    argv = ["mount", "-t", "tmpfs", "-o", "size=1m,ro,mode=0700", "tmpfs", str(target)]
    faultfs._require_root("mounting a read-only tmpfs")
    with faultfs._mounted(argv, target, "mount a read-only tmpfs"):
        result = run_dss(*opts(f"{source}/", target), "configtest")
        assert result.returncode == 1
        assert failures(result.stderr) == [
            f"FAIL  dest-writable {target} is on a read-only file system"
        ]
        ok = run_dss(*opts(f"{source}/", target), "--config", str(
            _config(tmp_path, mountpoint=True)), "configtest")
        assert f"ok    mountpoint {target} is a mount point" in ok.stderr


def _config(tmp_path: Path, **values: Any) -> Path:
    path = tmp_path / "dss.toml"
    path.write_text(to_toml({key.replace("_", "-"): value for key, value in values.items()}))
    return path


def test_mountpoint_on_a_plain_directory_fails(
    run_dss: RunDss, source: Path, private_dest: Path, tmp_path: Path
) -> None:
    config = _config(tmp_path, mountpoint=True)
    result = run_dss("--config", str(config), *opts(f"{source}/", private_dest), "configtest")
    assert result.returncode == 1
    assert failures(result.stderr) == [
        f"FAIL  dest-dir {private_dest} is not a mount point (option mountpoint)"
    ]


def test_misspelt_plugin_table_fails_once_with_a_suggestion(
    run_dss: RunDss, source: Path, private_dest: Path, tmp_path: Path
) -> None:
    config = tmp_path / "dss.toml"
    config.write_text("[plugins.gsf]\nkeep = 3\n")
    result = run_dss("--config", str(config), *opts(f"{source}/", private_dest), "configtest")
    assert result.returncode == 1
    assert len([line for line in result.stderr.splitlines() if "gsf" in line]) == 1
    (line,) = failures(result.stderr)
    assert line.startswith("FAIL  plugins.gsf no installed plugin 'gsf'")
    assert "did you mean [plugins.gfs]?" in line


def test_notifier_table_without_notify_fails(
    run_dss: RunDss, source: Path, private_dest: Path, tmp_path: Path
) -> None:
    config = tmp_path / "dss.toml"
    config.write_text('[plugins.apprise]\nurls = ["json://localhost:1/"]\n')
    args = ["--config", str(config), *opts(f"{source}/", private_dest), "configtest"]
    result = run_dss(*args)
    assert result.returncode == 1
    (line,) = failures(result.stderr)
    assert "it would never notify" in line and 'notify = ["apprise"]' in line
    assert len([line for line in result.stderr.splitlines() if "apprise" in line]) == 1
    config.write_text('notify = ["apprise"]\n' + config.read_text())
    fixed = run_dss(*args)
    assert fixed.returncode == 0, fixed.stderr
    assert "ok    notify notifier apprise is enabled" in fixed.stderr


def test_invalid_value_is_two(run_dss: RunDss, source: Path, private_dest: Path) -> None:
    result = run_dss(*opts(source, private_dest), "--num-intervals", "many", "configtest")
    assert result.returncode == 2


def test_json_matches_the_checks(
    run_dss: RunDss, source: Path, tmp_path: Path, private_dest: Path
) -> None:
    missing = tmp_path / "gone"
    result = run_dss(*opts(f"{missing}/", private_dest), "configtest", "--json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert document["config"]["dest-dir"] == str(private_dest)
    by_name = {check["name"]: check for check in document["checks"]}
    assert by_name["source-dir"] == {
        "name": "source-dir",
        "ok": False,
        "level": "fail",
        "message": f"source-dir {missing} does not exist",
    }
    assert by_name["dest-dir"]["ok"] is True and by_name["dest-dir"]["level"] == "ok"
    assert len(check_lines(result.stderr)) == len(document["checks"])
    fine = run_dss(*opts(f"{source}/", private_dest), "configtest", "--json")
    assert json.loads(fine.stdout)["ok"] is True, fine.stderr


def _remote(tmp_path: Path, server: SshServer, source: Path, dest: Path, **values: Any) -> Path:
    settings: dict[str, Any] = {
        "source_dir": str(source),
        "dest_dir": str(dest),
        "remote_host": server.host,
        "remote_user": server.user,
        "use_ssh": "always",
        "ssh_port": server.port,
        "ssh_identity": str(server.client_key),
        "ssh_option": server.ssh_options(),
        "ssh_connect_timeout": 5,
    }
    settings.update(values)
    return _config(tmp_path, **settings)


def test_remote_source_is_probed_over_ssh(
    run_dss: RunDss, sshd: SshServer, source: Path, private_dest: Path, tmp_path: Path
) -> None:
    odd = tmp_path / "it's a $dir"
    odd.mkdir()
    for reachable in (source, odd):
        config = _remote(tmp_path, sshd, reachable, private_dest)
        result = run_dss("--config", str(config), "configtest")
        assert result.returncode == 0, result.stderr
        assert f"ok    source-dir {sshd.user}@{sshd.host}:{reachable}/ is reachable" in (
            result.stderr
        )
    config = _remote(tmp_path, sshd, tmp_path / "no such dir", private_dest)
    result = run_dss("--config", str(config), "configtest")
    assert result.returncode == 1
    (line,) = failures(result.stderr)
    assert "does not exist" in line


def test_unreachable_remote_fails_within_the_connect_timeout(
    run_dss: RunDss, sshd: SshServer, source: Path, private_dest: Path, tmp_path: Path
) -> None:
    config = _remote(tmp_path, sshd, source, private_dest, ssh_port=free_port())
    refused = run_dss("--config", str(config), "configtest")
    assert refused.returncode == 1
    (line,) = failures(refused.stderr)
    assert "is not reachable" in line and "Connection refused" in line
    with socket.socket() as silent:  # accepts, never speaks: ssh waits for the banner
        silent.bind((sshd.host, 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        config = _remote(tmp_path, sshd, source, private_dest, ssh_port=port,
                         ssh_connect_timeout=1)
        started = time.monotonic()
        result = run_dss("--config", str(config), "configtest")
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    (line,) = failures(result.stderr)
    assert "is not reachable" in line
    assert elapsed < 1 + 8, f"took {elapsed:.1f}s with ssh-connect-timeout = 1"
    assert os.listdir(private_dest) == []


def test_enabled_notifier_outside_notify_fails_but_a_p_module_hears_events(
    run_dss: RunDss, source: Path, private_dest: Path, tmp_path: Path
) -> None:
    config = tmp_path / "dss.toml"
    config.write_text('enable-plugins = ["apprise"]\n')
    args = ["--config", str(config), *opts(f"{source}/", private_dest), "configtest"]
    result = run_dss(*args)
    assert result.returncode == 1
    (line,) = failures(result.stderr)
    assert line.startswith("FAIL  plugins.apprise notifier 'apprise'")
    site = tmp_path / "site"
    site.mkdir()
    (site / "eventlog.py").write_text(
        "from dssframe import hookimpl\n"
        "from dssframe.api import PluginSettings, Setting\n\n"
        "@hookimpl\ndef dssframe_plugin_settings():\n"
        '    return PluginSettings("eventlog", [Setting("path", "str", "", "file")])\n\n'
        "@hookimpl\ndef dssframe_event(event):\n    pass\n"
    )
    config.write_text('[plugins.eventlog]\npath = "/dev/null"\n')
    env = {**os.environ, "PYTHONPATH": str(site)}
    loaded = run_dss("-p", "eventlog", *args, env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert "ok    plugins.eventlog" in loaded.stderr
