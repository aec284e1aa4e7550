"""``dss ls`` on a terminal (issue 13): a header and each snapshot's new data (the bytes
its copy wrote rather than hard-linked, from its metadata document), in IEC units or
``--bytes``; piped, the lines stay exactly the original dss's (SPEC §7). A real ``dss``
with its standard output on a real pseudo-terminal."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dssframe.core import naming
from dssframe.core.sizes import iec_size
from dsstest import RunDss, complete

pytestmark = pytest.mark.usefixtures("rsync")

#: ``dss`` through its console entry point (the lean path for plain ``ls``).
DSS = [sys.executable, "-m", "dssframe"]
#: ``dss`` through the typer app, whatever the arguments.
TYPER = [sys.executable, "-c", "import sys; from dssframe.cli.app import main; sys.exit(main())"]


def on_terminal(argv: list[str]) -> tuple[int, str, str]:
    """Run ``argv`` with its standard output on a pseudo-terminal (stdin /dev/null,
    stderr piped): exit status, what the terminal showed (``\\r\\n`` made ``\\n``),
    stderr."""
    master, slave = os.openpty()
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE, close_fds=True
    )
    os.close(slave)
    received = bytearray()

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its side
                return
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    _, stderr = process.communicate(timeout=120)
    reader.join(10)
    os.close(master)
    return process.returncode, received.decode().replace("\r\n", "\n"), stderr.decode()


@pytest.fixture
def dest(dest: Path) -> Path:
    dest.chmod(0o700)  # no warning about a destination others can read
    return dest


@pytest.fixture
def three(run_dss: RunDss, source: Path, dest: Path) -> list[str]:
    """Two snapshots made by dss (the second adds 1.5 MiB) and an older one without
    metadata, as the original dss leaves them; the middle one pinned."""
    o = ["--source-dir", f"{source}/", "--dest-dir", str(dest)]
    run_dss(*o, "create", check=True)
    (source / "big.bin").write_bytes(b"\0" * (3 << 19))  # 1.5 MiB
    time.sleep(1)  # a new creation epoch
    run_dss(*o, "create", check=True)
    first, second = (p.name for p in complete(dest))
    creation = naming.parse(first).creation  # type: ignore[union-attr]
    original = naming.complete_name(creation - 3600, creation - 3000)
    (dest / original).mkdir()
    run_dss("--dest-dir", str(dest), "pin", first, "--note", "audit", check=True)
    return [original, first, second]


def test_a_terminal_shows_a_header_and_new_data(
    run_dss: RunDss, source: Path, dest: Path, three: list[str]
) -> None:
    original, first, second = three
    status, shown, stderr = on_terminal([*TYPER, "--dest-dir", str(dest), "ls"])
    assert status == 0 and stderr == ""
    header, *rows = shown.splitlines()
    assert header.split() == ["interval", "snapshot", "duration", "new", "pin"]
    assert [row.split()[1] for row in rows] == three
    cells = {row.split()[1]: row for row in rows}
    assert cells[original].split()[2:] == ["0:10", "-"]  # no metadata: unknown
    assert cells[second].split()[2:] == ["0:00", "1.5", "MiB"]  # only big.bin was copied
    first_size = sum(p.stat().st_size for p in source.rglob("*")
                     if p.is_file() and not p.is_symlink() and p.name != "big.bin")
    assert f"  {iec_size(first_size)}  pinned" in cells[first] and cells[first].endswith(": audit")
    # the columns line up under the header
    assert {row.index(row.split()[1]) for row in rows} == {header.index("snapshot")}


def test_bytes_gives_exact_sizes(dest: Path, three: list[str]) -> None:
    status, shown, _ = on_terminal([*DSS, "--dest-dir", str(dest), "ls", "--bytes"])
    assert status == 0
    rows = {row.split()[1]: row.split() for row in shown.splitlines()[1:]}
    assert rows[three[2]][3] == str(3 << 19)
    assert shown.splitlines()[0].split()[:4] == ["interval", "snapshot", "duration", "new"]


def test_filters_apply_on_a_terminal_too(dest: Path, three: list[str]) -> None:
    status, shown, _ = on_terminal([*DSS, "--dest-dir", str(dest), "ls", "--with-metadata"])
    assert status == 0
    assert [row.split()[1] for row in shown.splitlines()[1:]] == three[1:]


def test_piped_output_is_unchanged(run_dss: RunDss, dest: Path, three: list[str]) -> None:
    plain = run_dss("--dest-dir", str(dest), "ls", check=True).stdout
    assert [line.split("\t")[1] for line in plain.splitlines()] == three
    assert all(line.split("\t")[2] in ("  0:10", "  0:00") for line in plain.splitlines())
    for extra in (["--bytes"], ["-b"]):
        assert run_dss("--dest-dir", str(dest), "ls", *extra, check=True).stdout == plain
    typer_path = subprocess.run(
        [*TYPER, "--dest-dir", str(dest), "ls"], capture_output=True, text=True, check=True
    )
    assert typer_path.stdout == plain


def test_plain_dss_ls_on_a_terminal(dest: Path, three: list[str]) -> None:
    status, shown, _ = on_terminal([*DSS, "--dest-dir", str(dest), "ls"])
    assert status == 0 and shown.splitlines()[0].split()[0] == "interval"
