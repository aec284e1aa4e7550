"""Notifier "eventlog": append one line per event to a file."""

from dssframe import hookimpl
from dssframe.api import EVENT_API_VERSION, PluginSettings, Setting

settings = {}


@hookimpl
def dssframe_plugin_settings():
    return PluginSettings("eventlog", [Setting("path", "str", "", "file to append to")])


@hookimpl
def dssframe_configure(config):
    settings.update(config.plugins["eventlog"])


@hookimpl
def dssframe_event(event):
    if event.api_version != EVENT_API_VERSION or not settings.get("path"):
        return
    with open(settings["path"], "a") as log:
        log.write(f"{event.kind.value} {event.snapshot or '-'} {event.reason or ''}\n")
