"""Fixtures of the prometheus plugin's tests: isolated XDG dirs, a metrics reader,
the real CLI."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import dssframe_prometheus
import pytest


@pytest.fixture(autouse=True)
def isolated_dirs(dss_isolated: Path) -> Path:
    """Keep every test away from the user's config and state (dssframe.testing)."""
    return dss_isolated


@pytest.fixture(autouse=True)
def unconfigured() -> None:
    """Every test starts without a configuration captured by the plugin."""
    dssframe_prometheus.forget_jobs()


class Metrics:
    """A textfile as prometheus_client's own parser reads it."""

    def __init__(self, text: str) -> None:
        from prometheus_client.parser import text_string_to_metric_families

        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in self.families.values()
            for s in family.samples
        }

    def value(self, name: str, dest: str, job: str = "default", **labels: str) -> float:
        """The sample of metric ``name`` labelled ``dest``, ``job`` and ``labels``."""
        key = (f"dssframe_{name}", tuple(sorted({"dest": dest, "job": job, **labels}.items())))
        return self.samples[key]

    def jobs(self) -> set[str]:
        """The ``job`` labels of the file's samples."""
        return {dict(labels)["job"] for _, labels in self.samples}

    def has(self, name: str) -> bool:
        return f"dssframe_{name}" in self.families


@pytest.fixture
def read_metrics() -> Callable[[Path], Metrics]:
    return lambda path: Metrics(path.read_text())


RunDss = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_dss(dss_cli: RunDss) -> RunDss:
    """Run the real ``dss`` command in a child process (dssframe.testing's dss_cli)."""
    return dss_cli
