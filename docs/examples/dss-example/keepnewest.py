"""Retention policy "keep-newest": keep the newest N complete snapshots."""

from dssframe import hookimpl
from dssframe.api import PluginSettings, Reason, Removal, Setting


class KeepNewest:
    name = "keep-newest"

    def __init__(self, config):
        self.count = config.plugins["keepnewest"]["count"]

    def interval(self, snapshot, now):
        return None  # no buckets to show in `dss ls`

    def plan(self, snapshots, now, protected):
        complete = [s for s in snapshots if s.complete]
        doomed = complete[: -self.count] if self.count else complete
        return [
            Removal(s, Reason.REDUNDANT, None, "beyond keep-newest")
            for s in doomed
            if s.creation not in protected
        ]


@hookimpl
def dssframe_plugin_settings():
    return PluginSettings("keepnewest", [Setting("count", "int", 10, "snapshots to keep")])


@hookimpl
def dssframe_register_retention(register):
    register("keep-newest", KeepNewest)
