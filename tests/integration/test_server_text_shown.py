"""Server text in messages: escaped and shortened; files keep the server's exact values.

A 5,000-character annotation value made a 15,000-character warning line, a ``--where`` value
with a line break split the summary in two, and a name holding ESC or BEL bytes reached the
user's terminal as they were. Every message now shows such text through one helper
(:func:`harvester.text.shown` / :func:`~harvester.text.quoted`): the first 80 characters,
``…(N characters)``, control characters escaped as ``repr`` escapes them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import DEMO_SCREEN, run_cli

from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.http import Request, Response

#: A gene symbol as a hostile server may hold it: a label separator, ESC and BEL, and long.
HOSTILE = "PLK1;\x1b[31m\x07" + "x" * 5000


class _HostileValue:
    """The demo emulator, with every ``"PLK1"`` of its JSON answers replaced by HOSTILE."""

    def __init__(self) -> None:
        self.inner = build_application("demo", 0, "omeroweb")

    def handle(self, req: Request) -> Response:
        resp = self.inner.handle(req)
        if "json" in resp.content_type:
            resp.body = resp.body.replace(b'"PLK1"', json.dumps(HOSTILE).encode())
        return resp

    def route_name(self, req: Request) -> str:
        return self.inner.route_name(req)


def assert_inert(text: str) -> None:
    """No control character but line breaks, and no line longer than a short message's."""
    assert not any(ch in text for ch in "\x1b\x07\x00\r"), [c for c in text if c < " "][:5]
    assert max(len(line) for line in text.splitlines()) < 700


def test_a_long_hostile_annotation_value_is_shown_short_and_kept_whole(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The separator warning quotes 80 characters of the 5,011, escaped; index.csv keeps it."""
    emu = make_emulator(app=_HostileValue())
    out = tmp_path / "d"
    result = run_cli(
        "harvest", "--base-url", emu.base_url, "--screen", str(DEMO_SCREEN), "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--label-key", "Gene Symbol",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert_inert(result.stdout + result.stderr)
    cut = repr(HOSTILE[:80])
    assert f"(Gene Symbol={cut}…(5,011 characters)): such a value reads as" in result.stderr
    assert "'PLK1;\\x1b[31m\\x07xxx" in cut
    with open(out / "index.csv", newline="", encoding="utf-8") as handle:
        genes = {row["Gene Symbol"] for row in csv.DictReader(handle)}
    assert HOSTILE in genes  # the file keeps the server's exact value


def test_a_where_value_with_a_line_break_stays_on_its_line(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """`--where $'Gene Symbol=a\\nb'`: the summary and the warning show `\\n`, one line each."""
    result = run_cli(
        "harvest", "--base-url", emulator.base_url, "--screen", str(DEMO_SCREEN),
        "--out", str(tmp_path / "d"), "--artifacts", "thumbnail", "--rate", "none",
        "--dry-run", "--where", "Gene Symbol=a\nb",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "selected 0 of 80 walked images (where Gene Symbol=a\\nb)" in result.stdout
    assert "--where 'Gene Symbol=a\\nb': no value of key 'Gene Symbol'" in result.stderr
    assert not [line for line in result.stdout.splitlines() if line.startswith("b")]
    assert not [line for line in result.stderr.splitlines() if line.startswith("b")]


def test_a_hostile_screen_name_is_escaped_where_it_is_named(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The `names` preset's screen, named by `--screen ../screen`: its NUL and line break are
    shown as `\\x00` and `\\n` in the line that says what the name selected."""
    emu = make_emulator(preset="names")
    result = run_cli(
        "harvest", "--base-url", emu.base_url, "--screen", "../screen",
        "--out", str(tmp_path / "d"), "--artifacts", "thumbnail", "--rate", "none", "--dry-run",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert_inert(result.stdout + result.stderr)
    assert "--screen ../screen: screen 1901 (../screen/with\\x00hostile\\nname)" in (
        result.stderr + result.stdout
    )
