"""Plan files: streamed back exactly, published atomically, damage detected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from harvester.errors import UsageError
from harvester.models import Artifact, ImageRef
from harvester.plan import (
    PlanWriter,
    read_plan,
    read_plan_info,
    write_plan,
    write_plan_async,
)

ARTS = [Artifact.THUMBNAIL, Artifact.IMGDATA]


def refs(n: int, start: int = 1000) -> Iterator[ImageRef]:
    for i in range(n):
        yield ImageRef(
            image_id=start + i,
            image_name=f"img {i} ü",
            screen_id=2302,
            plate_id=7,
            well_id=100 + i,
            well_row=i % 8,
            well_column=i % 12,
            field=0,
            labels=(("Gene Symbol", "ABC"), ("Gene Symbol", "DEF")),
        )


def test_plan_round_trip_keeps_every_image_and_totals(tmp_path: Path) -> None:
    """read_plan yields the written ImageRefs in order; plan.json holds the totals."""
    written = list(refs(50))
    info = write_plan(
        tmp_path, written, artifacts=ARTS, targets={"screens": [2302]}, base_url="http://x"
    )
    assert list(read_plan(tmp_path)) == written
    assert list(read_plan(tmp_path / "plan")) == written
    meta = read_plan_info(tmp_path)
    assert meta == info
    assert meta.images == 50
    assert meta.artifacts == {"thumbnail": 50, "imgdata": 50}
    assert meta.targets == {"screens": [2302]}
    assert meta.base_url == "http://x"
    first = json.loads((tmp_path / "plan" / "images.jsonl").read_text().splitlines()[0])
    assert first["artifacts"] == ["thumbnail", "imgdata"]
    assert first["image_id"] == 1000


def test_duplicate_images_are_planned_once(tmp_path: Path) -> None:
    """An image found twice (two datasets) is planned once, in its first context."""
    a = ImageRef(image_id=5, dataset_id=1)
    b = ImageRef(image_id=5, dataset_id=2)
    info = write_plan(tmp_path, [a, b, ImageRef(image_id=6)], artifacts=ARTS)
    assert info.images == 2
    assert list(read_plan(tmp_path)) == [a, ImageRef(image_id=6)]


def test_place_again_rewrites_only_the_images_met_again(tmp_path: Path) -> None:
    """Of 2,000 planned images, the one met again under a lower dataset is planned there,
    one met under a higher dataset is not, and every other line is kept byte for byte."""
    planned = [ImageRef(image_id=10 + i, dataset_id=5, dataset_name="five") for i in range(2000)]
    with PlanWriter(tmp_path, artifacts=ARTS) as writer:
        for ref in planned:
            writer.add(ref)
        writer.place_again(
            {10: ImageRef(image_id=10, dataset_id=1), 11: ImageRef(image_id=11, dataset_id=9)}
        )
        writer.commit()
    got = list(read_plan(tmp_path))
    assert got[0] == ImageRef(image_id=10, dataset_id=1)
    assert got[1:] == planned[1:]
    after = (tmp_path / "plan" / "images.jsonl").read_bytes().splitlines()
    write_plan(tmp_path / "plain", planned, artifacts=ARTS)
    assert after[1:] == (tmp_path / "plain" / "plan" / "images.jsonl").read_bytes().splitlines()[1:]


async def test_async_writer_matches_sync_writer(tmp_path: Path) -> None:
    """write_plan_async over an async stream writes the same images file as write_plan."""

    async def agen() -> AsyncIterator[ImageRef]:
        for ref in refs(20):
            yield ref

    await write_plan_async(tmp_path / "a", agen(), artifacts=ARTS)
    write_plan(tmp_path / "b", refs(20), artifacts=ARTS)
    a = (tmp_path / "a" / "plan" / "images.jsonl").read_bytes()
    assert a == (tmp_path / "b" / "plan" / "images.jsonl").read_bytes()


def test_failed_walk_leaves_no_plan(tmp_path: Path) -> None:
    """An error during the walk leaves neither a plan nor a temporary folder."""

    def broken() -> Iterator[ImageRef]:
        yield from refs(10)
        raise RuntimeError("walk died")

    with pytest.raises(RuntimeError):
        write_plan(tmp_path, broken(), artifacts=ARTS)
    assert os.listdir(tmp_path) == []
    with pytest.raises(UsageError, match="no harvest plan"):
        list(read_plan(tmp_path))


def test_killed_planner_leaves_no_visible_plan(tmp_path: Path) -> None:
    """A planner killed (SIGKILL) mid-write leaves DIR/plan absent, never half written."""
    code = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from harvester.models import ImageRef
        from harvester.plan import PlanWriter
        with PlanWriter(Path({str(tmp_path)!r}), artifacts=["thumbnail"]) as w:
            for i in range(5000):
                w.add(ImageRef(image_id=i))
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, timeout=60, check=False)
    assert proc.returncode == -9
    assert not (tmp_path / "plan").exists()
    with pytest.raises(UsageError, match="no harvest plan"):
        read_plan_info(tmp_path)
    assert [p.name.split("-")[0] for p in tmp_path.iterdir()] == ["plan.tmp"]
    # The next planner removes the dead planner's leftovers.
    write_plan(tmp_path, refs(2), artifacts=ARTS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan"]


def test_existing_plan_needs_force_and_is_replaced_whole(tmp_path: Path) -> None:
    """A second plan is refused without force; with force it replaces the first entirely."""
    write_plan(tmp_path, refs(5), artifacts=ARTS)
    with pytest.raises(UsageError, match="already holds a plan") as err:
        write_plan(tmp_path, refs(3), artifacts=ARTS)
    assert err.value.hint is not None and "--force" in err.value.hint
    write_plan(tmp_path, refs(3, start=1), artifacts=ARTS, force=True)
    assert [r.image_id for r in read_plan(tmp_path)] == [1, 2, 3]
    assert sorted(os.listdir(tmp_path)) == ["plan"]


def test_truncated_plan_is_reported_not_half_harvested(tmp_path: Path) -> None:
    """A plan whose images file lost lines raises UsageError after the last line."""
    write_plan(tmp_path, refs(10), artifacts=ARTS)
    images = tmp_path / "plan" / "images.jsonl"
    lines = images.read_text().splitlines(keepends=True)
    images.write_text("".join(lines[:7]))
    with pytest.raises(UsageError, match="has 7 images but plan.json says 10"):
        list(read_plan(tmp_path))


def test_garbled_plan_line_is_a_clear_error(tmp_path: Path) -> None:
    """A non-JSON line names the file and line number."""
    write_plan(tmp_path, refs(3), artifacts=ARTS)
    images = tmp_path / "plan" / "images.jsonl"
    images.write_text(images.read_text() + "{oops\n")
    with pytest.raises(UsageError, match="line 4 is not JSON"):
        list(read_plan(tmp_path))


def test_foreign_plan_json_is_refused(tmp_path: Path) -> None:
    """A plan.json that is not ours is refused with a hint to write a plan."""
    (tmp_path / "plan").mkdir()
    (tmp_path / "plan" / "plan.json").write_text('{"hello": 1}')
    with pytest.raises(UsageError, match="not a harvester plan") as err:
        read_plan_info(tmp_path)
    assert err.value.hint is not None and "harvester plan" in err.value.hint


def test_reading_is_streaming(tmp_path: Path) -> None:
    """read_plan is lazy: the first image arrives before the file is read to the end."""
    write_plan(tmp_path, refs(100), artifacts=ARTS)
    images = tmp_path / "plan" / "images.jsonl"
    it = read_plan(tmp_path)
    first = next(it)
    assert first.image_id == 1000
    # appending a line now is still seen: the reader has not slurped the file
    with images.open("a") as fh:
        fh.write(json.dumps(ImageRef(image_id=1).to_json()) + "\n")
    rest: list[ImageRef] = []
    with pytest.raises(UsageError, match="101 images"):
        rest.extend(it)
    assert len(rest) == 100


def test_writer_outside_with_block_is_an_error(tmp_path: Path) -> None:
    """Using a PlanWriter outside its with block is a programming error, not silent loss."""
    writer = PlanWriter(tmp_path, artifacts=ARTS)
    with pytest.raises(RuntimeError):
        writer.add(ImageRef(image_id=1))


def test_public_url_drops_credentials_and_keeps_ipv6_brackets() -> None:
    """A plan's base URL has no user, password or query, and an IPv6 host stays a valid URL."""
    from harvester.plan import public_url

    assert public_url("http://bob:pw@Example.org:8080/idr/?bsession=S") == (
        "http://example.org:8080/idr/"
    )
    assert public_url("http://[::1]:8080/idr/") == "http://[::1]:8080/idr/"


def test_stale_plan_temps_are_cleared_and_live_ones_told_running(tmp_path: Path) -> None:
    """A dead planner's temporary folder of this host is removed; a live one's and another
    host's stay, and are the planners ``status`` says may be writing DIR's plan."""
    import socket

    from harvester.plan import clean_stale_plan_temps, planners_running

    host = socket.gethostname()
    ended = subprocess.Popen(["true"])
    ended.wait()  # (its pid: no process now)
    dead = tmp_path / f"plan.tmp-{host}-{ended.pid}-0123abcd"
    old = tmp_path / f"plan.old-{host}-{ended.pid}-0123abcd"
    live = tmp_path / f"plan.tmp-{host}-{os.getpid()}-0123abcd"
    other = tmp_path / "plan.tmp-node-b07-1-0123abcd"
    for folder in (dead, old, live, other):
        folder.mkdir()
    assert sorted(planners_running(tmp_path)) == sorted([host, "node-b07"])
    assert clean_stale_plan_temps(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])
