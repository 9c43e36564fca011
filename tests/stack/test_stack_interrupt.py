"""A stack interrupted (Ctrl-C = cancellation) while it is assembled or stored.

Ctrl-C must stop a run within a couple of seconds (README, Interruption), but
assembling a big stack takes as long as decoding every staged plane; and once
a stack is journaled, the run must count it and drop its staging folder, or the
summary says "done 0" about a file that is on disk and a staging folder the
size of the stack stays until the next run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import numpy as np
import pytest
import tifffile
from stack_support import DirStore

import harvester.stack as stack_module
from harvester.client import Client, ClientSettings, Expect
from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import ZSTACK_SIZE_Z
from harvester.models import ImageRef
from harvester.planes import read_plane as real_read_plane
from harvester.stack import ASSEMBLY_NAME, harvest_stack

ZSTACK_IMAGE_ID = 1_300_001
PLANES = ZSTACK_SIZE_Z * 2
Factory = Callable[..., EmulatorThread]


async def _run(
    emu: EmulatorThread, out: Path, store: DirStore, scope: anyio.CancelScope | None = None
) -> bool:
    """Harvest the z-stack image; True if harvest_stack returned (was not cancelled)."""
    settings = ClientSettings(base_url=emu.base_url, concurrency=4, rate=None)
    returned = False
    with anyio.fail_after(60):
        async with Client(settings) as client:
            imgdata = (
                await client.get(f"webgateway/imgData/{ZSTACK_IMAGE_ID}/", Expect.JSON)
            ).json()
            with scope or anyio.CancelScope():
                await harvest_stack(
                    client,
                    store,
                    ImageRef(ZSTACK_IMAGE_ID),
                    imgdata,
                    window="rendering",
                    out_dir=out,
                )
                returned = True
    return returned


def _render_calls(emu: EmulatorThread) -> int:
    routes = emu.stats()["by_route"]
    return sum(sum(v.values()) for k, v in routes.items() if "render" in k)


async def test_cancel_during_assembly_stops_at_the_next_plane(
    make_emulator: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled mid-assembly: no further plane is decoded, no temp file is left, the
    staged planes stay, and the rerun assembles them without a request."""
    emu = make_emulator(preset="zstack", mode="microservice")
    out = tmp_path / "out"
    staging = out / "staging" / str(ZSTACK_IMAGE_ID)
    scope = anyio.CancelScope()
    decoded: list[int] = []

    def read_plane(*args: Any) -> Any:
        decoded.append(1)
        if len(decoded) == 3:  # the user presses Ctrl-C while plane 3 is decoded
            anyio.from_thread.run_sync(scope.cancel)
        return real_read_plane(*args)

    monkeypatch.setattr(stack_module, "read_plane", read_plane)
    store = DirStore(out)
    assert not await _run(emu, out, store, scope)
    assert len(decoded) == 3, f"assembly went on for {len(decoded)} of {PLANES} planes"
    assert store.done == []
    assert sorted(p.name for p in staging.iterdir() if not p.name.endswith(".png")) == [
        "imgdata.json",
        "stack.json",
    ], "assembly temp file or pyramid scratch left behind"
    assert len(list(staging.glob("*.png"))) == PLANES

    monkeypatch.setattr(stack_module, "read_plane", real_read_plane)
    emu.reset_stats()
    rerun = DirStore(out)
    assert await _run(emu, out, rerun)
    assert _render_calls(emu) == 0
    assert len(rerun.done) == 1 and not staging.exists()
    data = tifffile.imread(out / rerun.done[0][2])
    assert data.shape == (ZSTACK_SIZE_Z, 2, 256, 256) and data.dtype == np.uint8


class _CancelledWhileStoring(DirStore):
    """A store whose put_file sees the run cancelled (Ctrl-C as the stack is handed over)."""

    def __init__(self, out_dir: Path, scope: anyio.CancelScope) -> None:
        super().__init__(out_dir)
        self.scope = scope

    async def put_file(
        self,
        kind: str,
        object_id: int,
        rel_path: str,
        tmp_path: Path,
        sha256: str | None = None,
    ) -> None:
        self.scope.cancel()
        await anyio.lowlevel.checkpoint()  # as the store's own awaits (group commit)
        await super().put_file(kind, object_id, rel_path, tmp_path, sha256)


async def test_cancel_while_storing_finishes_the_stored_stack(
    make_emulator: Factory, tmp_path: Path
) -> None:
    """An assembled stack is stored, flushed and its staging removed even if the run is
    cancelled meanwhile, and harvest_stack returns so the caller counts it."""
    emu = make_emulator(preset="zstack", mode="microservice")
    out = tmp_path / "out"
    scope = anyio.CancelScope()
    store = _CancelledWhileStoring(out, scope)
    assert await _run(emu, out, store, scope)
    assert [kind for kind, _, _ in store.done] == ["stack"]
    assert (out / store.done[0][2]).is_file()
    assert not (out / "staging").exists()
    assert not list(out.rglob(ASSEMBLY_NAME))


async def test_staging_parent_removed_when_empty(make_emulator: Factory, tmp_path: Path) -> None:
    """The README's layout: staging/ holds stacks in progress; once the last is stored no
    empty DIR/staging is left, but another image's staging (another shard's) is kept."""
    emu = make_emulator(preset="zstack", mode="microservice")
    out = tmp_path / "out"
    assert await _run(emu, out, DirStore(out))
    assert not (out / "staging").exists()

    other = out / "staging" / "1300002"
    other.mkdir(parents=True)
    (other / "stack.json").write_text("{}")
    (out / "images").rename(tmp_path / "first-images")  # harvest the same image again
    assert await _run(emu, out, DirStore(out))
    assert not (out / "staging" / str(ZSTACK_IMAGE_ID)).exists()
    assert (other / "stack.json").is_file()


async def test_cancel_mid_plane_stops_at_the_next_region(
    make_emulator: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plane fetched as regions is abandoned between two regions: a big plane of
    hundreds of regions no longer keeps an interrupted run for seconds."""
    import harvester.planes as planes_module
    from harvester.emulator.catalogue import TILED_SMALL_IMAGE_ID

    emu = make_emulator(preset="tiled", mode="microservice")
    out = tmp_path / "out"
    scope = anyio.CancelScope()
    decoded: list[int] = []
    real_decode = planes_module.decode_grey

    def decode_grey(*args: Any) -> Any:
        decoded.append(1)
        if len(decoded) == 2:
            anyio.from_thread.run_sync(scope.cancel)
        return real_decode(*args)

    settings = ClientSettings(base_url=emu.base_url, concurrency=4, rate=None)
    with anyio.fail_after(60):
        async with Client(settings) as client:
            imgdata = (
                await client.get(f"webgateway/imgData/{TILED_SMALL_IMAGE_ID}/", Expect.JSON)
            ).json()
            monkeypatch.setattr(planes_module, "decode_grey", decode_grey)
            store = DirStore(out)
            with scope:
                await harvest_stack(
                    client,
                    store,
                    ImageRef(TILED_SMALL_IMAGE_ID),
                    imgdata,
                    window="rendering",
                    out_dir=out,
                    max_plane=200,
                    max_tile=160,
                )
    assert len(decoded) == 2, f"{len(decoded)} of 16 regions of the first plane decoded"
    assert store.done == []
    assert not list(out.rglob(ASSEMBLY_NAME))


def test_staging_drops_a_killed_assembly_and_keeps_the_planes(tmp_path: Path) -> None:
    """The half-written stack and levels' folder a killed run left are removed when the image's
    staging is taken up again, before any plane is fetched or assembled (a rerun that fails
    that stack before assembling it removes them too); the staged planes are kept."""
    from harvester.layout import ASSEMBLY_LEVELS, staged_planes
    from harvester.stack import prepare_staging

    record = {"version": 1, "image_id": 7}
    staging = tmp_path / "staging" / "7"
    prepare_staging(staging, record)
    plane = staging / "t00000-z00000-c000-r0000.png"
    plane.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16 + b"IEND\xaeB`\x82")
    (staging / ASSEMBLY_NAME).write_bytes(b"II*\x00" + b"\x00" * 996)
    (staging / ASSEMBLY_LEVELS / "1").mkdir(parents=True)
    (staging / ASSEMBLY_LEVELS / "1" / "0.npy").write_bytes(b"\x00" * 500)
    assert staged_planes(tmp_path) == (1, 1, plane.stat().st_size + 1500, 1500)
    assert set(prepare_staging(staging, record)) == {plane.stem}
    assert sorted(p.name for p in staging.iterdir()) == sorted([plane.name, "stack.json"])
    assert staged_planes(tmp_path) == (1, 1, plane.stat().st_size, 0)
