"""The pure parts of ``dss status`` and ``dss serve``: a job's period, staleness and
state word (:mod:`dssframe.core.health`), the fill forecast, and the status page
(:mod:`dssframe.core.statuspage`), escaping everything it shows."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from dssframe.core import health, naming, statuspage
from dssframe.core.config import Config
from dssframe.core.naming import SnapshotName
from dssframe.core.retention import Removal
from dssframe.plugins.host import PluginHost

DAY = 86400
NOW = 1_800_000_000


def complete(creation: int, completion: int) -> SnapshotName:
    snapshot = naming.parse(naming.complete_name(creation, completion))
    assert snapshot is not None
    return snapshot


class NoSchedule:
    """A retention policy without ``next_due``: the scheduler gives it dss's spacing."""

    name = "no-schedule"

    def interval(self, snapshot: SnapshotName, now: int) -> int | None:
        return None

    def plan(
        self, snapshots: Sequence[SnapshotName], now: int, protected: frozenset[int]
    ) -> list[Removal]:
        return []


class Hourly(NoSchedule):
    """A calendar policy: due at the start of the next full hour (like gfs)."""

    def next_due(
        self, snapshots: Sequence[SnapshotName], now: int, average_duration: int
    ) -> int | None:
        newest = max(s.creation for s in snapshots if s.complete)
        return (newest // 3600 + 1) * 3600

    def next_change(self, snapshots: Sequence[SnapshotName], now: int) -> int | None:
        return None


def test_the_period_is_the_schedule_of_the_policy(
    dss_plugin_host: PluginHost, dss_config: Callable[..., Config]
) -> None:
    dyadic = dss_plugin_host.retention(dss_config(unit_interval="1d", num_intervals=3))
    assert health.snapshot_period(dyadic, DAY, 3, NOW) == DAY // 4
    assert health.snapshot_period(Hourly(), DAY, 3, NOW + 1234) == 3600
    # no schedule of its own: what the scheduler gives it, u / 2^(n-1)
    assert health.snapshot_period(NoSchedule(), 8 * 3600, 4, NOW) == 3600
    assert health.snapshot_period(None, 1, 30, NOW) == 1  # never zero


def test_stale_after_defaults_to_twice_the_period_and_counts_from_the_completion() -> None:
    assert health.stale_limit(0, 3600) == 7200
    assert health.stale_limit(600, 3600) == 600
    snapshots = [complete(NOW - 9000, NOW - 7000)]
    assert not health.is_stale(snapshots, NOW, 7200)
    assert health.is_stale(snapshots, NOW, 6999)
    assert health.is_stale([], NOW, 10**9)  # no complete snapshot at all
    incomplete = naming.parse(naming.incomplete_name(NOW - 10))
    assert incomplete is not None
    assert health.is_stale([incomplete], NOW, 3600)
    assert health.counts([snapshots[0], incomplete]) == {
        "complete": 1,
        "incomplete": 1,
        "being_deleted": 0,
    }


def test_the_state_word_says_the_worst_news_first() -> None:
    failing = {"consecutive_failures": 2, "activity": "creating", "creating": {"pid": 1}}
    assert health.job_state(False, failing, True) == "stopped"
    assert health.job_state(False, failing, True, paused=True) == "paused"
    assert health.job_state(True, failing, True) == "failing"
    assert health.job_state(True, {"activity": "creating", "creating": {}}, True) == "creating"
    assert health.job_state(True, {"activity": "removing"}, True) == "removing"
    removing = {"activity": "idle", "next_action": {"action": "remove"}}
    assert health.job_state(True, removing, False) == "removing"
    assert health.job_state(True, {"activity": "idle"}, True) == "stale"
    assert health.job_state(True, {"activity": "idle", "consecutive_failures": 0}, False) == "idle"
    assert set(health.STATES) == {
        "stopped", "paused", "failing", "creating", "removing", "stale", "idle"}


def test_the_last_failure_is_the_last_result_when_it_failed() -> None:
    failed = {"result": "failed", "time": 5, "message": "no source", "snapshot": None}
    assert health.last_failure({"last_result": failed}) == {
        "time": 5,
        "message": "no source",
        "snapshot": None,
        "exit_status": None,
    }
    assert health.last_failure({"last_result": {"result": "created", "time": 5}}) is None
    assert health.last_failure({}) is None


def test_the_fill_forecast_is_linear_on_the_new_data_of_the_last_30_days() -> None:
    gib = 1 << 30
    samples = [
        health.Sample(NOW - 40 * DAY, NOW - 40 * DAY + 60, 50 * gib, True),  # outside
        health.Sample(NOW - 20 * DAY, NOW - 20 * DAY + 60, 90 * gib, False),  # full copy
        health.Sample(NOW - 10 * DAY, NOW - 10 * DAY, 1 * gib, True),
        health.Sample(NOW - 5 * DAY, NOW - 5 * DAY, 2 * gib, True),
        health.Sample(NOW, NOW, 3 * gib, True),
    ]
    forecast = health.fill_forecast(samples, 100 * gib, 10 * gib, NOW)
    assert forecast["samples"] == 3
    assert forecast["bytes_per_day"] == 5 * gib / 10  # 2 + 3 GiB from day -10 to now
    assert forecast["days_until_full"] == 200.0
    assert forecast["days_until_low"] == 180.0
    assert forecast["full_at"] == NOW + 200 * DAY
    assert forecast["reason"] is None
    assert "transferred_size" in forecast["basis"]
    assert "full in 200 days" in health.forecast_text(forecast)


def test_no_fill_forecast_without_enough_data() -> None:
    one = [health.Sample(NOW - DAY, NOW - DAY, 5, True)]
    forecast = health.fill_forecast(one, 1000, None, NOW)
    assert forecast["days_until_full"] is None and "not enough data" in forecast["reason"]
    same = [health.Sample(NOW - 9, NOW, 5, True), health.Sample(NOW - 8, NOW, 5, True)]
    assert health.fill_forecast(same, 1000, None, NOW)["days_until_full"] is None
    flat = [health.Sample(NOW - DAY, NOW - DAY, 0, True), health.Sample(NOW, NOW, 0, True)]
    forecast = health.fill_forecast(flat, 1000, None, NOW)
    assert forecast["bytes_per_day"] == 0 and forecast["days_until_full"] is None
    two = [health.Sample(NOW - DAY, NOW - DAY, 1, True), health.Sample(NOW, NOW, 9, True)]
    forecast = health.fill_forecast(two, None, None, NOW)
    assert forecast["bytes_per_day"] == 9 and forecast["days_until_full"] is None
    assert health.forecast_text(forecast).startswith("no forecast: the free space")


def entry(name: str, **fields: Any) -> dict[str, Any]:
    """A job's entry of the status document, as engine.status builds it."""
    base: dict[str, Any] = {
        "name": name,
        "state": "failing",
        "running": True,
        "running_pid": 4242,
        "activity": "waiting to retry",
        "source": "/data/a&b/",
        "destination": "/backup/<i>x</i>",
        "last_snapshot": None,
        "snapshots": {"complete": 0, "incomplete": 0, "being_deleted": 0},
        "next_due": NOW,
        "next_due_from": "run-loop",
        "period": 21600,
        "stale": True,
        "stale_after": 43200,
        "last_failure": {"time": NOW - 5, "message": "rsync: <b>no</b> & bye", "snapshot": None},
        "disk": {"free_mb": 1000, "total_mb": 4000, "percent_free": 25.0,
                 "percent_free_inodes": 50.0, "min_free_percent": 2, "low": False,
                 "shortages": []},  # fmt: skip
        "fill_forecast": health.fill_forecast([], 1000 << 20, None, NOW),
        "timeline": health.timeline_rows(
            [complete(NOW - 3 * DAY, NOW - 3 * DAY + 60), complete(NOW - DAY, NOW - DAY + 9)], NOW
        ),
        "log": {"path": "/var/log/<dss>.log", "exists": True, "note": None,
                "lines": ["ERROR [x] <script>alert(2)</script>"]},  # fmt: skip
    }
    base.update(fields)
    return base


def test_the_page_escapes_everything_from_the_config_snapshots_and_logs() -> None:
    document = {"jobs": [entry("<script>alert(1)</script>"), entry("b&c")], "generated": NOW}
    page = statuspage.render(document, {"b&c": "<svg><title>kept</title></svg>"}, host="h<1>")
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page  # the log tail
    assert "/data/a&amp;b/" in page and "/backup/&lt;i&gt;x&lt;/i&gt;" in page
    assert "rsync: &lt;b&gt;no&lt;/b&gt; &amp; bye" in page
    assert "dss status on h&lt;1&gt;" in page
    assert '<meta http-equiv="refresh" content="30">' in page
    assert "<svg><title>kept</title></svg>" in page  # the retention picture, as given
    assert "no retention picture" in page  # the first job has none
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # no external asset


def test_the_timeline_has_one_mark_per_snapshot() -> None:
    rows = entry("a")["timeline"]
    svg = statuspage.timeline_svg(rows, NOW, 43200)
    assert svg.count("<rect") == 1 + len(rows)  # the band, then one mark each
    assert 'data-count="2"' in svg and svg.count("<title>") == len(rows) + 1  # + stale line
    assert statuspage.timeline_svg([], NOW, 60).count("<rect") == 1


def test_the_retention_picture_is_a_simulation_of_the_policy(
    dss_plugin_host: PluginHost, dss_config: Callable[..., Config]
) -> None:
    from dssframe.core import schedule

    config = dss_config(unit_interval="1d", num_intervals=3)
    policy = dss_plugin_host.retention(config)
    svg = statuspage.retention_svg(policy, schedule.Settings.from_config(config), DAY // 4, NOW)
    assert svg.startswith("<svg") and "<?xml" not in svg
    assert "retention &quot;dyadic&quot;" in svg and "interval 1" in svg
    assert svg.count("<circle") > 20
