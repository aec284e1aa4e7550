"""The safety model of ``test_safety_model.py`` with ``parallel = 3``: the same random
interleavings of create, mutate, empty source, full disk, prune, delete, pin and
SIGKILL-and-resume, and the same promises checked after every step (a good snapshot
always exists, every complete snapshot equals the source it claims, nothing pinned or
outside the destination changes), with every copy made by a group of rsync processes.
The source gets two more directories, so that there is something to share out, and
the free-space thresholds are off (``create`` would refuse every copy on the 3 MiB
disk before it starts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from dsstest import IN_CI, require_tool
from test_safety_model import SEEN, SafetyMachine, small_disk, snapshot_state

__all__ = ["small_disk"]  # the fixture, used below


class ParallelMachine(SafetyMachine):
    extra_config: ClassVar[dict[str, Any]] = {"parallel": 3}

    def __init__(self, disk: Path, work: Path) -> None:
        super().__init__(disk, work)
        for name in ("second", "third dir"):
            (self.source / name / "inner").mkdir(parents=True)
            (self.source / name / "inner" / "f").write_text(name)
            (self.source / name / "g").write_text(name * 3)
        self.expected_source = snapshot_state(self.source)


@pytest.mark.timeout(900)
def test_safety_model_with_parallel_copies(small_disk: Path, tmp_path: Path) -> None:
    require_tool("rsync")
    work = tmp_path / "work"
    work.mkdir()

    class Machine(ParallelMachine):
        def __init__(self) -> None:
            super().__init__(small_disk, work)

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=10,
            stateful_step_count=60,
            deadline=None,
            phases=[p for p in Phase if p is not Phase.shrink] if IN_CI else list(Phase),
        ),
    )
    print("\n".join(f"{count:5d}  {what}" for what, count in sorted(SEEN.items())))
    # the model must really copy (a refusal before every copy would pass trivially)
    assert SEEN["create succeeded"] + SEEN["create succeeded (resumed)"] >= 10, SEEN
