"""What the user reads when the server refuses for good: the audit's screen 2302 from IDR
as of 2026, through the CLI. One hint per cause, no "rerun to retry" (a rerun asks again
and gets the same answers), the same hint from ``harvester status``; files on disk."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import DEMO_SCREEN, SMALL_PLATE
from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread

NOT_RENDERED = (
    "hint: this server does not render these images (IDR since its move to OME-Zarr): "
    "--artifacts thumbnail,metadata,rois still work; pixels: IDR's OME-Zarr or the original files"
)
THUMBNAIL_96 = (
    "hint: this server serves 96 px thumbnails only: use --thumbnail-size 96 "
    "(the same --out takes it while it holds no thumbnail of another size)"
)
PNG = (
    "hint: this server ignores format=png and answers JPEG (classic OMERO.web): "
    'set render_format = "jpeg" in the config, or use the stack artifact'
)


def test_migrated_screen_ends_with_the_hint_not_a_rerun(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A migrated screen ends with the not-rendered hint once, not "rerun", and no imgdata retry."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "d"
    proc = cli(
        "harvest", "--base-url", emu.base_url, "--screen", str(DEMO_SCREEN), "--out", str(out),
        "--rate", "none", "--no-labels", "-q",
    )  # fmt: skip
    lines = proc.stderr.splitlines()
    assert proc.returncode == 1
    assert "rerun to retry the failures" not in proc.stderr
    assert lines[-2] == NOT_RENDERED
    assert lines[-1].startswith("a rerun would get the same answers for these failures: ")
    assert lines.count(NOT_RENDERED) == 1
    failed = json.loads(cli("status", str(out), "--json").stdout)["failures"]
    imgdata = [f for f in failed if f["kind"] == "imgdata"]
    assert emu.stats()["by_route"]["image:imgdata"] == {"200": len(imgdata)}  # no retry
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == 80

    status = cli("status", str(out))
    assert status.returncode == 0
    text = status.stdout.splitlines()
    assert text[-2:] == [NOT_RENDERED, f"to resume: harvester harvest --out {out}"]
    assert json.loads(cli("status", str(out), "--json").stdout)["hints"] == [
        NOT_RENDERED.removeprefix("hint: ")
    ]


def test_sized_thumbnails_and_png_renders_get_their_own_hints(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """400 px thumbnails from IDR 2026, PNG renders from classic OMERO.web (JPEG always)."""
    emu = make_emulator(preset="demo", migration_2026=True)
    proc = cli(
        "harvest", "--base-url", emu.base_url, "--plate", str(SMALL_PLATE), "--out",
        str(tmp_path / "t"), "--artifacts", "thumbnail", "--thumbnail-size", "400",
        "--rate", "none", "--no-labels", "-q",
    )  # fmt: skip
    assert proc.returncode == 1
    assert THUMBNAIL_96 in proc.stderr.splitlines()
    assert "note: the server refused every one" not in proc.stderr
    assert "rerun to retry the failures" not in proc.stderr
    # status: nothing pending and no failure a rerun could fix: no bare "to resume" promise
    status = cli("status", str(tmp_path / "t")).stdout.splitlines()
    assert status[-2] == THUMBNAIL_96
    assert status[-1] == (
        "a rerun would get the same answers for these failures: follow the hint above; "
        f"this folder resumes with: harvester harvest --out {tmp_path / 't'}"
    )
    # the hint followed in the same folder: it takes 96 px (it holds no 400 px thumbnail)
    followed = cli("harvest", "--out", str(tmp_path / "t"), "--thumbnail-size", "96", "-q")
    assert followed.returncode == 0, followed.stderr
    assert len(list((tmp_path / "t" / "images").rglob("*.thumbnail.jpg"))) == 8
    assert cli("status", str(tmp_path / "t"), "--failed-ids").stdout == ""

    classic = make_emulator(preset="demo", mode="omeroweb")
    config = tmp_path / "png.toml"
    config.write_text('render_format = "png"\n')
    proc = cli(
        "harvest", str(config), "--base-url", classic.base_url, "--plate", str(SMALL_PLATE),
        "--out", str(tmp_path / "p"), "--artifacts", "render", "--rate", "none", "--no-labels",
        "-q",
    )  # fmt: skip
    assert proc.returncode == 1
    assert PNG in proc.stderr.splitlines()
    assert sum(classic.stats()["by_route"]["image:render"].values()) == 8  # one each
    assert "rerun to retry the failures" not in proc.stderr


def test_transient_failures_still_end_with_the_rerun_line(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Failures a rerun may fix (a 503 through every retry) keep "rerun to retry", no hint."""
    emu = make_emulator(preset="demo", faults="503:100%,only:/webclient/imgData/")
    proc = cli(
        "harvest", "--base-url", emu.base_url, "--plate", str(SMALL_PLATE), "--out",
        str(tmp_path / "d"), "--artifacts", "imgdata", "--rate", "none", "--no-labels", "-q",
        "--max-retries", "0",
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1].startswith("rerun to retry the failures: ")
    assert "hint: " not in proc.stderr
