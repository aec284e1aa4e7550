"""Config files with jobs (``[[job]]`` and ``[job.NAME]``): defaults, overrides, plugin
tables merged key by key, the command line winning, and the mistakes refused."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from dssframe.core.config import Config
from dssframe.core.errors import ConfigError, UsageError
from dssframe.store.configfile import build, build_jobs, select_jobs


def jobs(text: str, overrides: dict[str, object] | None = None) -> list[Config]:
    return list(build_jobs(tomllib.loads(text), overrides or {}, "/etc/dss.toml"))


def test_top_level_keys_are_defaults_and_each_job_overrides_them(tmp_path: Path) -> None:
    found = jobs(f'''
        num-intervals = 4
        [plugins.gfs]
        keep-daily = 7
        keep-weekly = 4
        [[job]]
        name = "web"
        source-dir = "/srv/www/"
        dest-dir = "{tmp_path}/web"
        [[job]]
        name = "db"
        source-dir = "/var/lib/db/"
        dest-dir = "{tmp_path}/db"
        num-intervals = 6
        [job.plugins.gfs]
        keep-daily = 30
    ''')
    web, db = found
    assert [c.name for c in found] == ["web", "db"]
    assert web.num_intervals == 4 and db.num_intervals == 6
    assert web.plugins["gfs"] == {"keep-daily": 7, "keep-weekly": 4}
    assert db.plugins["gfs"] == {"keep-daily": 30, "keep-weekly": 4}


def test_the_job_name_form_and_the_command_line_winning(tmp_path: Path) -> None:
    found = jobs(f'''
        [job.alpha]
        source-dir = "/a/"
        dest-dir = "{tmp_path}/a"
        [job.beta]
        source-dir = "/b/"
        dest-dir = "{tmp_path}/b"
        loglevel = "info"
    ''', {"loglevel": "debug"})
    assert [(c.name, c.loglevel) for c in found] == [
        ("alpha", "debug"), ("beta", "debug")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[job]]\nsource-dir = "/a/"\ndest-dir = "/d/a"\n', "a job needs a name"),
        ('[[job]]\nname = "a b"\ndest-dir = "/d/a"\n', "job name 'a b'"),
        ('[[job]]\nname = "-x"\ndest-dir = "/d/a"\n', "job name '-x'"),
        ('[[job]]\nname = "a"\ndest-dir = "/d/a"\n[[job]]\nname = "a"\ndest-dir = "/d/b"\n',
         "two jobs are named 'a'"),
        ('[[job]]\nname = "a"\ndest-dir = "/d/x"\n[[job]]\nname = "b"\ndest-dir = "/d/x/"\n',
         "jobs 'a' and 'b' share dest-dir /d/x"),
        ('[[job]]\nname = "a"\nsource-dir = "/a/"\n', "[job a]: dest-dir is not set"),
        ('[[job]]\nname = "a"\ndest-dir = "/d/a"\nsorce-dir = "/x"\n',
         "/etc/dss.toml [job a]: unknown option 'sorce-dir'"),
        ('job = []\n', "defines no job"),
        ('job = 3\n', "job must be [[job]] tables"),
        ('[job.a]\nname = "b"\ndest-dir = "/d/a"\n', "[job.a] has another name, 'b'"),
    ],
)
def test_mistakes_in_jobs_are_config_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        jobs(text)
    assert message in str(raised.value)
    assert raised.value.exit_code == 2


def test_a_file_with_jobs_is_not_one_configuration_and_select_names_them() -> None:
    values = tomllib.loads('[[job]]\nname = "a"\ndest-dir = "/d/a"\n'
                           '[[job]]\nname = "b"\ndest-dir = "/d/b"\n')
    with pytest.raises(UsageError, match=r"defines several jobs \(a, b\); choose one"):
        build(values, {}, "/etc/dss.toml")
    found = build_jobs(values, {}, "/etc/dss.toml")
    assert [c.name for c in select_jobs(found, ["b"])] == ["b"]
    assert [c.name for c in select_jobs(found, [])] == ["a", "b"]
    with pytest.raises(UsageError, match="unknown job 'c'; jobs: a, b"):
        select_jobs(found, ["c"])


def test_a_config_without_jobs_is_one_unnamed_job() -> None:
    [config] = build_jobs({"dest-dir": "/d"}, {}, None)
    assert config.name == "" and config.dest_dir == "/d"
