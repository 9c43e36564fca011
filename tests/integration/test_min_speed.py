"""--min-speed: a server trickling an answer is cut, retried and reported; 0 lets it finish.

The emulator's ``trickle`` fault sends each thumbnail in 8 pieces 0.3 s apart: never
silent for the 0.5 s idle timeout, but far below a 100,000 bytes/s minimum.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import DEMO_PROJECT

from harvester.cli import main
from harvester.emulator import EmulatorThread

TRICKLE = "trickle:100%,trickle-delay:300ms,only:/webgateway/render_thumbnail"


def _harvest(base_url: str, out: Path, min_speed: str, retries: str = "1") -> list[str]:
    return [
        "harvest",
        "--base-url",
        base_url,
        "--out",
        str(out),
        "--project",
        str(DEMO_PROJECT),
        "--artifacts",
        "thumbnail",
        "--no-labels",
        "--rate",
        "none",
        "--concurrency",
        "8",
        "--timeout",
        "0.5",
        "--max-retries",
        retries,
        "--min-speed",
        min_speed,
        "--quiet",
    ]


def test_trickled_answers_fail_below_the_minimum_speed(
    make_emulator: Callable[..., EmulatorThread],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Answers trickled below the minimum speed are cut and fail, never hanging, none saved.
    (``--max-retries 0``: each is cut once. A cut answer is retried as any answer broken
    off, and asked again at the run's end: with a retry, this test took twice as long.)"""
    emu = make_emulator(preset="demo", faults=TRICKLE)
    out = tmp_path / "slow"
    assert main(_harvest(emu.base_url, out, "100000", retries="0")) == 1
    err = capsys.readouterr().err
    assert "answer slower than 100000 bytes/s" in err
    assert not list(out.glob("images/**/*.jpg"))
    # Each thumbnail was asked once, never left hanging for the whole trickle.
    stats = emu.stats()
    assert stats["by_route"]["image:thumbnail"] == {"200": 8}
    assert stats["image_requests_repeated"] == 0


def test_no_minimum_speed_lets_trickled_answers_finish(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """--min-speed 0: every trickled thumbnail (8 pieces 300 ms apart) comes at the first ask."""
    emu = make_emulator(preset="demo", faults=TRICKLE)
    out = tmp_path / "patient"
    assert main(_harvest(emu.base_url, out, "0")) == 0
    assert len(list(out.glob("images/**/*.jpg"))) == 8
    stats = emu.stats()
    assert stats["faults"] == {"trickle": 8}  # every thumbnail was trickled, none retried
    assert stats["image_requests_repeated"] == 0


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "fast"])
def test_bad_minimum_speed_is_one_line_and_exit_2(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad minimum speed is a one-line error with exit 2 and no folder made."""
    code = main(_harvest("http://127.0.0.1:9", tmp_path / "never", value))
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ")
    assert "Traceback" not in err
    assert not (tmp_path / "never").exists()
