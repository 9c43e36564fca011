"""What a stack run that did not finish tells: its staged planes, a refused plane size, URLs.

Each harvest runs as a user runs it (``main(argv)`` in-process, or ``python -m harvester``
where a Ctrl-C must reach the process) against the emulator over real sockets.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import reaped, start_cli

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import (
    TILED_OVER_IMAGE_ID,
    TILED_SLIDE_IMAGE_ID,
    TILED_SLIDE_PROJECT_ID,
    TILED_WIDE_IMAGE_ID,
    ZSTACK_SIZE_Z,
)
from harvester.emulator.http import Response
from harvester.emulator.server import corrupted
from harvester.progress import human_bytes

ZSTACK_IMAGE_ID = 1_300_001
Factory = Callable[..., EmulatorThread]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``harvester ARGV`` in-process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def staged(out: Path) -> tuple[int, int]:
    """(plane files, their bytes) in DIR/staging, as found on disk."""
    files = [p for p in (out / "staging").rglob("*") if p.suffix in (".png", ".jpg")]
    return len(files), sum(p.stat().st_size for p in files)


def staged_said(out: Path) -> str:
    """The line a run or ``status`` says of DIR's staged planes (one stack's, whole planes)."""
    planes, size = staged(out)
    return (
        f"{planes} planes staged ({human_bytes(size)}) for 1 unfinished stack in "
        f"{out / 'staging'}, kept for the rerun"
    )


def test_failed_stack_says_its_staged_planes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make_emulator: Factory
) -> None:
    """A stack failed after 5 planes answered: the summary and status say the planes are staged for
    the rerun (not "0 B stored" alone); once the rerun stores it, status says none are."""
    emu = make_emulator(
        preset="zstack", mode="microservice", faults="first:ok*5|500,only:image:render"
    )
    out = tmp_path / "d"
    args = ["--base-url", emu.base_url, "--image", str(ZSTACK_IMAGE_ID), "--out", str(out)]
    code, said, err = run(
        capsys, "harvest", *args, "--artifacts", "stack", "--rate", "none", "--max-retries", "0"
    )
    assert code == 1, err
    # The 5 answered planes, less any still being written when the 500 failed the stack.
    planes = staged(out)[0]
    assert 1 <= planes <= 5
    lines = said.splitlines()
    assert lines[1].startswith("0 B stored, ")
    assert lines[2] == staged_said(out)
    code, text, _err = run(capsys, "status", str(out))
    assert code == 0 and staged_said(out) in text.splitlines()
    code, data, _err = run(capsys, "status", str(out), "--json")
    assert json.loads(data)["staged"] == {"stacks": 1, "planes": planes, "bytes": staged(out)[1]}
    code, said, err = run(capsys, "harvest", "--out", str(out), "--rate", "none")
    assert code == 0, err
    assert "staged" not in said and not (out / "staging").exists()
    code, text, _err = run(capsys, "status", str(out))
    assert "staged" not in text
    code, data, _err = run(capsys, "status", str(out), "--json")
    assert "staged" not in json.loads(data)


def test_interrupted_stack_says_its_staged_planes(tmp_path: Path, make_emulator: Factory) -> None:
    """Ctrl-C in the middle of a stack: the summary says how many planes are staged, and
    their size, kept for the rerun."""
    emu = make_emulator(preset="zstack", mode="microservice", latency_ms=150)
    out = tmp_path / "d"
    proc = start_cli(
        "harvest", "--base-url", emu.base_url, "--image", str(ZSTACK_IMAGE_ID),
        "--out", str(out), "--artifacts", "stack", "--rate", "none", "--concurrency", "1",
    )  # fmt: skip
    with reaped(proc):
        deadline = time.monotonic() + 30
        while staged(out)[0] < 2:
            assert time.monotonic() < deadline, "no plane staged in 30 s"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        said, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    planes, _size = staged(out)
    assert 2 <= planes < ZSTACK_SIZE_Z * 2
    assert staged_said(out) in said.splitlines(), (said, err)


def test_max_plane_over_the_limit_is_said_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make_emulator: Factory
) -> None:
    """max_plane = 4000 asks IDR for a 3400x3100 plane it refuses (HTTP 400): the harvest
    and status say the plane size is over the server's limit and name max_plane, not "an id
    that does not exist"; the failure's URL is shown in <...> by both."""
    emu = make_emulator(preset="tiled", mode="microservice")
    config = tmp_path / "big.toml"
    config.write_text("max_plane = 4000\n", encoding="utf-8")
    out = tmp_path / "d"
    code, _said, err = run(
        capsys, "harvest", str(config), "--base-url", emu.base_url,
        "--image", str(TILED_OVER_IMAGE_ID), "--out", str(out), "--artifacts", "stack",
        "--rate", "none",
    )  # fmt: skip
    assert code == 1, err
    hint = (
        "hint: the server refused the plane size asked (HTTP 400: larger than it renders at "
        "once): set max_plane in the config file to the server's limit or below (without it, "
        "planes are asked up to the server's advertised limit, else 3192 px), then resume"
    )
    lines = err.splitlines()
    assert hint in lines
    assert "not public" not in err
    (failed,) = [line for line in lines if line.startswith("failed: ")]
    url = f"{emu.base_url.rstrip('/')}/webgateway/render_image/{TILED_OVER_IMAGE_ID}/0/0/"
    assert failed.startswith(
        f"failed: stack of image {TILED_OVER_IMAGE_ID}: HTTP 400 Bad Request: Requested shape"
    )
    assert f"<{url}?" in failed and failed.endswith(">")
    code, text, _err = run(capsys, "status", str(out))
    assert code == 0
    assert hint in text.splitlines() and "not public" not in text
    (row,) = [
        line for line in text.splitlines() if line.startswith(f"  stack {TILED_OVER_IMAGE_ID}:")
    ]
    assert row.endswith(failed[failed.index(" <") :])


def test_damaged_staged_plane_is_fetched_again_by_the_rerun(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    make_emulator: Factory,
) -> None:
    """A staged plane spoilt on disk (magic and trailer intact): the rerun says so in one
    warning, asks for that plane alone again and stores the stack, exit 0 (it stopped the
    run with ``error: cannot write stack``, exit 1, on every rerun)."""
    emu = make_emulator(
        preset="zstack", mode="microservice", faults="first:ok*5|500,only:image:render"
    )
    out = tmp_path / "d"
    args = ["--base-url", emu.base_url, "--image", str(ZSTACK_IMAGE_ID), "--out", str(out)]
    code, _said, err = run(
        capsys, "harvest", *args, "--artifacts", "stack", "--rate", "none", "--max-retries", "0"
    )
    assert code == 1, err
    planes = sorted((out / "staging" / str(ZSTACK_IMAGE_ID)).glob("*.png"))
    assert planes
    planes[0].write_bytes(corrupted(Response(200, planes[0].read_bytes())).body)
    renders_before = _settled_renders(emu)
    code, said, err = run(capsys, "harvest", "--out", str(out), "--rate", "none")
    assert code == 0, err
    assert said.startswith("done 1 (stack 1), skipped 0 (already done), failed 0")
    warning = f"stack {ZSTACK_IMAGE_ID}: 1 staged plane file does not decode (staged plane "
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(warning in w and w.endswith("fetching them again") for w in warned), warned
    renders = emu.stats()["by_route"]["image:render"]
    asked = sum(renders.values()) - sum(renders_before.values())
    assert asked == ZSTACK_SIZE_Z * 2 - len(planes) + 1
    assert (out / "images" / "001" / "300" / f"{ZSTACK_IMAGE_ID}.stack.ome.tif").is_file()
    assert not (out / "staging").exists()


def _settled_renders(emu: EmulatorThread) -> dict[str, int]:
    """The emulator's render counts once the requests a failed run left in flight (sent,
    then abandoned as the run stopped) have reached it: a late one counted in the rerun's
    figures made it one render too many on a loaded machine."""
    deadline = time.monotonic() + 10
    last = None
    while time.monotonic() < deadline:
        stats = emu.stats()
        now = dict(stats["by_route"]["image:render"])
        if now == last and stats["in_flight"] == 0:
            return now
        last = now
        time.sleep(0.3)
    raise AssertionError(f"the emulator's render count never settled: {last}")


def test_whole_slides_are_refused_before_any_region(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make_emulator: Factory
) -> None:
    """A 70000x40000 slide's render and stack, and a 66000x16000 slide's JPEG render, fail
    from their imgData alone, each said once with a hint that names what works instead (a
    PNG render with the memory it needs), and no rerun offered: they asked for every region
    first (700 and 264), then ran out of memory or JPEG's 65,500 px, and so did every rerun."""
    emu = make_emulator(preset="tiled", mode="microservice")
    out = tmp_path / "d"
    code, said, err = run(
        capsys, "harvest", "--base-url", emu.base_url, "--project", str(TILED_SLIDE_PROJECT_ID),
        "--out", str(out), "--artifacts", "thumbnail,render", "--rate", "none",
    )  # fmt: skip
    assert code == 1, err
    assert said.startswith("done 2 (thumbnail 2), skipped 0 (already done), failed 2;")
    code, _said, err2 = run(
        capsys, "harvest", "--base-url", emu.base_url, "--image", str(TILED_SLIDE_IMAGE_ID),
        "--out", str(tmp_path / "s"), "--artifacts", "stack", "--rate", "none",
    )  # fmt: skip
    assert code == 1, err2
    routes = emu.stats()["by_route"]
    assert not [r for r in routes if "render" in r or r == "options"], routes
    failed = sorted(line for line in (err + err2).splitlines() if line.startswith("failed: "))
    assert failed == [
        f"failed: render of image {TILED_SLIDE_IMAGE_ID}: the plane is 70000x40000 px "
        "(10.4 GiB as an RGB canvas), too big to put together in memory: renders are "
        "stitched from planes of up to 2,147,483,648 px (about 46,000 px square)",
        f"failed: render of image {TILED_WIDE_IMAGE_ID}: the plane is 66000x16000 px, wider "
        "or taller than a JPEG holds (65,500 px a side)",
        f"failed: stack of image {TILED_SLIDE_IMAGE_ID}: the plane is 70000x40000 px (2.6 "
        "GiB in memory), too big to put together in memory: stacks are made of planes of up "
        "to 2,147,483,648 px (about 46,000 px square; assembly holds about 2.5 of them)",
    ]
    too_big = (
        "hint: these planes are too big to put together in memory (whole slides): the "
        "thumbnail shows each whole, small; full resolution: IDR's OME-Zarr or the original "
        "files (--artifacts paths lists them)"
    )
    too_wide = (
        "hint: these renders are wider or taller than a JPEG holds (65,500 px a side): set "
        'render_format = "png" in the config file where memory allows (a PNG render holds '
        "its whole RGB canvas in memory, 3.9 GiB for the largest of these, 66000x16000 px, "
        "beside the PNG it encodes), or take the thumbnail"
    )
    assert too_big in err.splitlines() and too_wide in err.splitlines()
    assert too_big in err2.splitlines()
    assert err.splitlines()[-1].startswith(
        "a rerun would get the same answers for these failures: follow the hints above"
    )
    code, text, _err = run(capsys, "status", str(out))
    assert too_big in text.splitlines() and too_wide in text.splitlines()


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        # omero-web answers JPEG regions, which have no checksum: their markers show it
        # (before any decode: Pillow decodes some such to wrong pixels).
        ("omeroweb", "JPEG is damaged: "),
        # IDR's microservice answers PNG regions, whose CRCs show the damage as they come.
        ("microservice", "PNG does not decode: its IDAT chunk fails its CRC <"),
    ],
)
def test_damaged_region_of_a_stitched_render_is_the_servers_answer(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Factory,
    mode: str,
    said: str,
) -> None:
    """A region of a stitched render served damaged (header and trailer intact), no retry
    left: its failure line says the answer is damaged and names the region's URL and
    the image once, never "no answer" (said although the server answered)."""
    emu = make_emulator(preset="tiled", mode=mode, faults="first:corrupt,only:image:render_region")
    out = tmp_path / "d"
    code, _said, err = run(
        capsys, "harvest", "--base-url", emu.base_url, "--image", str(TILED_OVER_IMAGE_ID),
        "--out", str(out), "--artifacts", "render", "--rate", "none", "--max-retries", "0",
    )  # fmt: skip
    assert code == 1, err
    assert emu.stats()["faults"] == {"corrupt": 1}
    (failed,) = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert failed.startswith(f"failed: render of image {TILED_OVER_IMAGE_ID}: {said}"), failed
    assert failed.count(str(TILED_OVER_IMAGE_ID)) == 2  # the line's own, and the URL's
    assert failed.count(said) == 1
    assert "no answer" not in failed
    url = f"<{emu.base_url}/webgateway/render_image_region/{TILED_OVER_IMAGE_ID}/0/0/?"
    assert url in failed and "&region=0,0,2048,2048&" in failed and failed.endswith(">")
    assert not list(out.rglob("*.render.*"))


def test_a_huge_max_plane_asks_no_whole_slide(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make_emulator: Factory
) -> None:
    """max_plane = 100,000 in the config: the whole slides' renders are refused from their
    imgData as without it, with the same one-line failures (it asked the 70000x40000 slide in
    one request, and the 66000x16000 one as a JPEG it cannot be); no render request leaves."""
    emu = make_emulator(preset="tiled")
    config = tmp_path / "harvest.toml"
    config.write_text("max_plane = 100000\n", encoding="utf-8")
    code, _said, err = run(
        capsys, "harvest", str(config), "--base-url", emu.base_url,
        "--project", str(TILED_SLIDE_PROJECT_ID), "--out", str(tmp_path / "d"),
        "--artifacts", "render", "--rate", "none",
    )  # fmt: skip
    assert code == 1, err
    routes = emu.stats()["by_route"]
    assert not [r for r in routes if "render" in r or r == "options"], routes
    failed = sorted(line for line in err.splitlines() if line.startswith("failed: "))
    assert failed == [
        f"failed: render of image {TILED_SLIDE_IMAGE_ID}: the plane is 70000x40000 px "
        "(10.4 GiB as an RGB canvas), too big to put together in memory: renders are "
        "stitched from planes of up to 2,147,483,648 px (about 46,000 px square)",
        f"failed: render of image {TILED_WIDE_IMAGE_ID}: the plane is 66000x16000 px, wider "
        "or taller than a JPEG holds (65,500 px a side)",
    ]
