"""``outage_wait`` / ``--outage-wait``: how long a run pauses for a server that is down."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harvester.cli import main
from harvester.config import HarvestConfig
from harvester.emulator import EmulatorThread
from harvester.outage import DEFAULT_OUTAGE_WAIT, parse_duration
from harvester.text import duration_text


@pytest.mark.parametrize(
    ("given", "seconds"),
    [("90s", 90.0), ("30m", 1800.0), ("2h", 7200.0), ("1d", 86400.0), ("45", 45.0),
     (" 1.5m ", 90.0), (0, 0.0), ("0", 0.0), (600, 600.0)],
)  # fmt: skip
def test_durations_in_seconds_or_units(given: object, seconds: float) -> None:
    """Seconds, or a number with s, m, h or d."""
    assert parse_duration(given) == seconds


def test_a_length_as_harvester_says_one_is_taken(
    capsys: pytest.CaptureFixture[str], emulator: EmulatorThread, tmp_path: Path
) -> None:
    """``stopped: the server stayed down for 1h00m``: a length of several units, as the
    messages say one (``duration_text``), given back to --outage-wait, is taken (it was
    "not a duration", exit 2): the run harvests and records its wait in seconds."""
    assert [parse_duration(duration_text(s)) for s in (250, 3600, 7500, 187200)] == [
        250.0, 3600.0, 7500.0, 187200.0
    ]  # fmt: skip
    assert parse_duration("1h 30m") == 5400.0
    out = tmp_path / "d"
    code = main(["harvest", "--base-url", emulator.base_url, "--image", "9762957", "--out",
                 str(out), "--artifacts", "thumbnail", "--rate", "none", "-q",
                 "--outage-wait", "1h30m"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == 1
    (saved,) = (out / "runs").glob("*/config.json")
    assert json.loads(saved.read_text())["config"]["outage_wait"] == 5400.0


@pytest.mark.parametrize(
    "given", ["5x", "", "m", "-3", "-1m", "nan", "inf", True, None, "1h30", "h30m", "1h-30m"]
)
def test_bad_durations_are_refused(given: object) -> None:
    """Negative, unknown units, not finite, not a number: refused."""
    with pytest.raises(ValueError):
        parse_duration(given)


def test_config_key_default_and_saved_config() -> None:
    """The default is an hour; a config's "30m" is 1800 s, and the saved run config keeps it."""
    assert HarvestConfig().outage_wait == DEFAULT_OUTAGE_WAIT == 3600.0
    cfg = HarvestConfig(outage_wait="30m")
    assert cfg.outage_wait == 1800.0
    assert cfg.to_public()["outage_wait"] == 1800.0


def test_a_bad_value_is_one_error_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--outage-wait 5x: exit 2, one error line naming the flag, a hint, no folder."""
    out = tmp_path / "d"
    code = main(["harvest", "--image", "1", "--out", str(out), "--outage-wait", "5x"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == [
        "error: --outage-wait: '5x' is not a duration (seconds, or a number with s, m, h or d)",
        "hint: e.g. 30m, 2h, 1h30m, 90s, or 0",
    ]
    assert not out.exists()
    # An hour and a half with its last unit left out: told the duration it reads as.
    assert main(["harvest", "--image", "1", "--out", str(out), "--outage-wait", "1h30"]) == 2
    assert capsys.readouterr().err.splitlines()[1:] == ["hint: did you mean 1h30m?"]
    assert main(["harvest", "--image", "1", "--out", str(out), "--outage-wait", "2m 5"]) == 2
    assert capsys.readouterr().err.splitlines()[1:] == ["hint: did you mean 2m 5s?"]
    assert not out.exists()


def test_pause_lengths_as_the_log_says_them() -> None:
    """Short pauses with a tenth of a second, then minutes, hours and days; a clock or an
    estimate (``tenths=False``) in whole seconds from the start."""
    assert [duration_text(s) for s in (2.04, 45, 250, 3600, 7500, 187200)] == [
        "2.0s", "45s", "4m10s", "1h00m", "2h05m", "2d04h"
    ]  # fmt: skip
    assert [duration_text(s, tenths=False) for s in (0.3, 8, 100.2)] == ["0s", "8s", "1m40s"]
