"""``DIR/servers.json`` as :mod:`harvester.servers` reads and merges it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harvester.servers import read_servers, record_servers

#: Each process adds its runs one write at a time, all processes at once: an array's
#: tasks, each learning servers at its start on one shared folder. The lock waited for as
#: long as the test may take: a write that has not had it after LOCK_WAIT goes on unlocked
#: and may drop entries, as documented, which a loaded machine (eight processes on two
#: busy cores) can reach with no fault; what is proven here is that writes under it merge.
#: (That no waiter is starved of it: test_folder_lock_fair.py.)
WRITER = """
import sys
from pathlib import Path
import harvester.servers
from harvester.servers import record_servers
harvester.servers.LOCK_WAIT = 100.0
out, k, n = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
every = {f"run-{w}-{i}" for w in range(n) for i in range(20)}
for i in range(20):
    record_servers(out, {f"run-{k}-{i}": f"http://server-{k % 2}/"}, every)
"""


def test_processes_writing_at_once_lose_no_entry(tmp_path: Path) -> None:
    """Eight processes merging 20 runs each at once: the record names all 160."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(k), "8"], env=env)
        for k in range(8)
    ]
    assert [proc.wait(timeout=120) for proc in procs] == [0] * 8
    expected = {f"run-{k}-{i}": f"http://server-{k % 2}/" for k in range(8) for i in range(20)}
    assert read_servers(tmp_path) == expected


def test_runs_gone_are_dropped_and_a_damaged_record_is_none(tmp_path: Path) -> None:
    """A merge keeps only the runs listed now; a record that is not one reads as empty."""
    record_servers(tmp_path, {"a": "http://a/", "b": "http://b/"}, {"a", "b"})
    record_servers(tmp_path, {"c": "http://a/"}, {"a", "c"})
    assert read_servers(tmp_path) == {"a": "http://a/", "c": "http://a/"}
    (tmp_path / "servers.json").write_text('{"servers": ["a"]}')
    assert read_servers(tmp_path) == {}
    record_servers(tmp_path, {"d": "http://d/"}, {"d"})
    assert read_servers(tmp_path) == {"d": "http://d/"}


def test_a_url_saved_with_a_token_is_recorded_without_it(tmp_path: Path) -> None:
    """A run saved before 0.1.13 with a token as its URL's user: the record never holds it."""
    record_servers(tmp_path, {"a": "https://s3cr3tT0K3N@omero.example.org/"}, {"a"})
    assert "s3cr3tT0K3N" not in (tmp_path / "servers.json").read_text()
    assert read_servers(tmp_path)["a"].endswith("@omero.example.org/")
