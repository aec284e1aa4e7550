"""``dss status`` and ``dss serve`` for a config with three jobs, with real snapshots
made by ``dss create``, a real ``dss run`` of the fleet, and real HTTP requests to a
``dss serve`` child process on an ephemeral port."""

from __future__ import annotations

import base64
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dssframe.store import control
from dsstest import RunDss, complete, snapshots
from fleettest import (
    JOBS,
    ODD_NAME,
    Child,
    Fleet,
    by_name,
    children,
    http,
    make_fleet,
    start_serve,
    status_json,
    toml_string,
    wait_until,
)

PERIOD = 86400 // 4  # unit-interval 1d, num-intervals 3


@pytest.fixture
def fleet(tmp_path: Path, run_dss: RunDss, rsync: str) -> Fleet:
    return make_fleet(tmp_path, run_dss)


@pytest.fixture
def started() -> Iterator[list[Child]]:
    yield from children()


def metadata(dest: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((dest / ".dssframe" / "meta").iterdir())]


def wait_stale(fleet: Fleet) -> None:
    """beta (stale-after 1 s) until its snapshot completed more than a second ago."""
    completion = snapshots(fleet.dests["beta"])[-1].completion
    assert completion is not None
    wait_until(lambda: time.time() >= completion + 2.05, what="beta's snapshot to go stale")


def test_status_of_a_fleet_that_no_loop_runs(run_dss: RunDss, fleet: Fleet) -> None:
    wait_stale(fleet)
    code, document = status_json(run_dss, fleet)
    assert code == 3  # no job has a run loop
    assert [entry["name"] for entry in document["jobs"]] == list(JOBS)
    assert "running" not in document  # several jobs: only "jobs" (and "generated")
    jobs = by_name(document)

    alpha = jobs["alpha"]
    made = snapshots(fleet.dests["alpha"])
    assert alpha["state"] == "stopped" and alpha["running"] is False
    assert alpha["running_pid"] is None
    assert alpha["snapshots"] == {"complete": 3, "incomplete": 0, "being_deleted": 0}
    assert alpha["last_snapshot"]["name"] == fleet.newest("alpha").name
    assert alpha["last_snapshot"]["completion"] == made[-1].completion
    assert alpha["destination"] == alpha["dest_dir"] == str(fleet.dests["alpha"])
    assert alpha["source"].endswith("/source-a/")
    assert (alpha["period"], alpha["stale_after"], alpha["stale"]) == (PERIOD, 2 * PERIOD, False)
    assert alpha["last_failure"] is None and alpha["dest_error"] is None
    # no run loop: the schedule says when (newest completion + spacing - average duration)
    average = sum(s.completion - s.creation for s in made if s.completion) // len(made)
    assert alpha["next_due_from"] == "schedule"
    assert alpha["next_due"] == (made[-1].completion or 0) + PERIOD - average
    assert alpha["disk"]["free_mb"] > 0 and "error" not in alpha["disk"]

    # The fill forecast: the new data of the 2 copies made against a reference.
    forecast = alpha["fill_forecast"]
    incremental = [doc for doc in metadata(fleet.dests["alpha"]) if doc["reference"]]
    assert len(incremental) == 2 and forecast["samples"] == 2
    added = incremental[1]["stats"]["transferred_size"]
    assert added >= 200_000  # the file grown between them
    rate = added * 86400 / (incremental[1]["completion"] - incremental[0]["completion"])
    assert forecast["bytes_per_day"] == round(rate, 1)
    assert forecast["days_until_full"] == round(forecast["free_bytes"] / rate, 2)
    assert "transferred_size" in forecast["basis"]

    beta = jobs["beta"]
    assert beta["snapshots"]["complete"] == 1 and beta["stale_after"] == 1
    assert beta["stale"] is True and beta["state"] == "stopped"
    assert beta["destination"].endswith(ODD_NAME)
    assert beta["fill_forecast"]["days_until_full"] is None  # one full copy: no data

    gamma = jobs["gamma"]
    assert gamma["snapshots"] == {"complete": 0, "incomplete": 0, "being_deleted": 0}
    assert gamma["last_snapshot"] is None and gamma["stale"] is True
    assert gamma["next_due"] <= document["generated"]  # no snapshot: due now

    # One job chosen: its fields at the top level too, as before fleets.
    code, single = status_json(run_dss, fleet, "--job", "gamma")
    assert code == 3 and [entry["name"] for entry in single["jobs"]] == ["gamma"]
    assert single["name"] == "gamma" and single["running"] is False
    assert single["dest_dir"] == str(fleet.dests["gamma"])

    text = run_dss("-c", str(fleet.config), "status")
    assert text.returncode == 3
    blocks = text.stdout.strip().split("\n\n")
    assert [block.splitlines()[0] for block in blocks] == [
        "job alpha: stopped",
        "job beta: stopped",
        "job gamma: stopped",
    ]
    assert f"running: no (dest-dir {fleet.dests['alpha']})" in blocks[0]
    assert "snapshots: 3 complete, 0 incomplete" in blocks[0]
    assert f"last snapshot: {fleet.newest('alpha').name} (completed " in blocks[0]
    assert "stale: no (no complete snapshot for 12h is stale; a snapshot every 6h)" in blocks[0]
    assert "fill forecast: full in " in blocks[0]
    assert "stale: STALE" in blocks[1]
    assert "last snapshot: none" in blocks[2] and "(due now), by the schedule" in blocks[2]


STABLE = ("name", "state", "running", "running_pid", "pid", "snapshots", "stale", "stale_after",
          "period", "source", "destination", "next_due_from", "consecutive_failures")  # fmt: skip


def test_a_running_fleet_its_status_and_its_page(
    run_dss: RunDss, fleet: Fleet, started: list[Child]
) -> None:
    with open(fleet.logfile, "a") as log:  # the foreground loop's log, where logfile says
        run = Child(["-c", str(fleet.config), "run"], stderr=log)
    started.append(run)
    gamma_dest = str(fleet.dests["gamma"])
    wait_until(
        lambda: (control.read_state(gamma_dest) or {}).get("consecutive_failures", 0) >= 1,
        what="gamma's first failure",
    )
    wait_until(lambda: all(control.running_pid(str(d)) for d in fleet.dests.values()))
    wait_until(lambda: control.read_state(str(fleet.dests["beta"])), what="beta's state")
    wait_stale(fleet)

    code, document = status_json(run_dss, fleet)
    assert code == 0
    jobs = by_name(document)
    assert {name: jobs[name]["state"] for name in JOBS} == {
        "alpha": "idle",
        "beta": "stale",  # running and idle, but its snapshot is older than 1 s
        "gamma": "failing",
    }
    for name in JOBS:
        assert jobs[name]["running"] is True
        assert jobs[name]["running_pid"] == jobs[name]["pid"] == run.process.pid
        assert jobs[name]["job"] == name
    alpha = jobs["alpha"]
    assert alpha["next_due_from"] == "run-loop" and alpha["next_due"] == alpha["next_snapshot"]
    assert alpha["last_failure"] is None
    failure = jobs["gamma"]["last_failure"]
    assert failure is not None and "does not exist" in failure["message"]
    assert isinstance(failure["time"], int)
    text = run_dss("-c", str(fleet.config), "status").stdout
    assert "job gamma: failing\n" in text and f"running: yes (pid {run.process.pid})" in text
    assert "last failure: " in text and "does not exist" in text

    wait_until(lambda: "[gamma] create-failed" in fleet.logfile.read_text(), what="the log")
    serve, url = start_serve(fleet.config)
    started.append(serve)
    assert url.startswith("http://127.0.0.1:") and not url.endswith(":0/")

    api = http(url + "api/status")
    assert api.status == 200 and api.headers["Content-Type"] == "application/json"
    assert api.body.decode().startswith('{\n  "generated": ')  # two-space indent
    served = by_name(api.json())
    assert list(served) == list(JOBS)
    for name in JOBS:
        assert {k: served[name][k] for k in STABLE} == {k: jobs[name][k] for k in STABLE}, name
        mine, theirs = served[name]["last_snapshot"], jobs[name]["last_snapshot"]
        assert (mine or {}).get("name") == (theirs or {}).get("name")
        assert "config" not in served[name]  # the effective configuration stays private
    assert served["gamma"]["last_failure"]["message"] == failure["message"]
    names = [row["name"] for row in served["alpha"]["timeline"]]
    assert names == [path.name for path in complete(fleet.dests["alpha"])]
    assert all(row["added"] for row in served["alpha"]["timeline"][1:])
    tail = served["gamma"]["log"]
    assert tail["path"] == str(fleet.logfile) and tail["exists"] is True
    assert tail["lines"] and all("[gamma] " in line for line in tail["lines"])
    assert any("create-failed" in line for line in tail["lines"])

    page = http(url)
    assert page.status == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    html = page.body.decode()
    for name in JOBS:
        assert f'id="job-{name}"' in html
    assert '<meta http-equiv="refresh" content="30">' in html
    assert "dest beta &amp; &lt;img src=x onerror=alert(1)&gt;" in html  # escaped
    assert "<img" not in html and "<script" not in html
    assert "create-failed" in html and "does not exist" in html  # gamma's failure, log tail
    assert html.count('class="timeline"') == 3 and html.count('class="picture"') == 3

    head = http(url, "HEAD")
    assert head.status == 200 and head.body == b"" and int(head.headers["Content-Length"]) > 0
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        refused = http(url + "api/status", method)
        assert refused.status == 405, method
        assert refused.headers["Allow"] == "GET, HEAD"
    assert http(url + "nothing-here").status == 404
    # No token: only for a loopback host name (no DNS rebinding from a web page).
    assert http(url, headers={"Host": "attacker.example"}).status == 403

    assert serve.stop() == 0
    assert run.stop() == 0
    code, after = status_json(run_dss, fleet)
    assert code == 3
    gamma = by_name(after)["gamma"]
    assert gamma["state"] == "stopped" and "does not exist" in gamma["last_failure"]["message"]


def token_config(tmp_path: Path, token: str) -> Path:
    dests = [tmp_path / "one", tmp_path / "two"]
    for dest in dests:
        dest.mkdir()
    config = tmp_path / "token.toml"
    config.write_text(
        f"serve-token = {toml_string(token)}\n"
        + "".join(
            f'[[job]]\nname = "{dest.name}"\ndest-dir = {toml_string(str(dest))}\n'
            for dest in dests
        )
    )
    return config


def basic(user: str, password: str) -> dict[str, str]:
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def test_serve_with_a_token_requires_it_on_every_request(
    tmp_path: Path, started: list[Child]
) -> None:
    token = "s3cret-Token_42"
    config = token_config(tmp_path, token)
    serve, url = start_serve(config, "--bind", "0.0.0.0:0")  # a token: any address
    started.append(serve)
    port = url.rsplit(":", 1)[1].rstrip("/")
    local = f"http://127.0.0.1:{port}/"

    refused = http(local + "api/status")
    assert refused.status == 401
    assert refused.headers["WWW-Authenticate"] == 'Basic realm="dss"'
    assert b"jobs" not in refused.body
    for headers in (
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {token}x"},
        {"Authorization": token},
        basic("admin", "wrong"),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()},  # no colon
    ):
        assert http(local, headers=headers).status == 401, headers
    assert http(local, "POST").status == 401  # no method is told anything without it

    bearer = http(local + "api/status", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status == 200
    assert [entry["name"] for entry in bearer.json()["jobs"]] == ["one", "two"]
    for user in ("admin", "", "anyone at all"):
        assert http(local, headers=basic(user, token)).status == 200, user
    # with the token, any Host header (a proxy in front may rewrite it)
    assert http(local, headers={"Host": "dss.example", **basic("x", token)}).status == 200
    assert http(local, "POST", headers=basic("x", token)).status == 405
    assert serve.stop(signal.SIGINT) == 0  # SIGINT stops it cleanly too


def test_serve_refuses_to_listen_beyond_loopback_without_a_token(
    tmp_path: Path, run_dss: RunDss
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    config = tmp_path / "plain.toml"
    config.write_text(f"dest-dir = {toml_string(str(dest))}\n")
    for bind in ("0.0.0.0:8470", "[::]:0", "192.0.2.1:8470", "backup.example:8470"):
        result = run_dss("-c", str(config), "serve", "--bind", bind)
        assert result.returncode == 2, bind
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "serve-token" in lines[0], result.stderr
    for bind in ("nonsense", "127.0.0.1:99999", "::1:80"):
        result = run_dss("-c", str(config), "serve", "--bind", bind)
        assert result.returncode == 2 and "--bind" in result.stderr, bind
    config.write_text(config.read_text() + 'serve-bind = "0.0.0.0:0"\n')
    result = run_dss("-c", str(config), "serve")
    assert result.returncode == 2 and "serve-token" in result.stderr


def test_serve_rereads_the_jobs_on_sighup(tmp_path: Path, started: list[Child]) -> None:
    """SIGHUP: the next request shows the config file's jobs as they are now; an
    invalid file keeps the old ones."""
    dests = [tmp_path / name for name in ("one", "two")]
    for dest in dests:
        dest.mkdir(mode=0o700)
    config = tmp_path / "jobs.toml"
    job_one = f'[[job]]\nname = "one"\ndest-dir = {toml_string(str(dests[0]))}\n'
    job_two = f'[[job]]\nname = "two"\ndest-dir = {toml_string(str(dests[1]))}\n'
    config.write_text(job_one)
    serve, url = start_serve(config)
    started.append(serve)
    assert [job["name"] for job in http(url + "api/status").json()["jobs"]] == ["one"]
    config.write_text(job_one + job_two)
    serve.process.send_signal(signal.SIGHUP)
    wait_until(lambda: len(http(url + "api/status").json()["jobs"]) == 2, what="two jobs")
    config.write_text(job_one + job_two + "no such = option\n")
    serve.process.send_signal(signal.SIGHUP)
    assert [job["name"] for job in http(url + "api/status").json()["jobs"]] == ["one", "two"]
    assert serve.stop() == 0
