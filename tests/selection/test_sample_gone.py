"""A sample never spends its places on images recorded as gone from the server.

Images ``harvester forget DIR --gone-ids-from`` recorded as gone (their thumbnails answer
404 here) were drawn into a later ``--sample N`` and skipped, so the sample gave fewer than
N images though the walk listed enough others. A sample first drawn after they were
recorded leaves them out (the next-ranked images take their places); one drawn before keeps
them, so its resume fetches the sample it journaled. Against the demo emulator over real
sockets; the expected picks come from the documented hash, not the code under test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selection_helpers import DEMO_SCREEN, RecordingApp, harvest, index_rows, run_cli

from harvester.emulator import EmulatorThread
from harvester.emulator.http import Request, Response
from harvester.journal import JournalState
from harvester.models import ImageRef
from harvester.plan import read_plan
from harvester.select import short_sample_line
from harvester.selection import SelectStats, image_hash

KEY = "Phenotype"


class GoneApp(RecordingApp):
    """The demo server, but the thumbnails of ``gone`` answer 404 (deleted images)."""

    def __init__(self) -> None:
        super().__init__()
        self.gone: set[int] = set()

    def handle(self, req: Request) -> Response:
        if any(f"/render_thumbnail/{i}/" in req.raw_path for i in self.gone):
            return Response(404, b"not found", "text/plain", route="image:thumbnail")
        return super().handle(req)


@pytest.fixture
def gone_server() -> Iterator[tuple[EmulatorThread, GoneApp]]:
    """A demo emulator whose app answers 404 for the thumbnails of the ids it is given."""
    app = GoneApp()
    with EmulatorThread(app=app) as emu:
        yield emu, app


def ranked(ids: object, seed: int = 0) -> list[int]:
    """Image ids by their sample rank: (blake2b(seed, id), id), smallest first."""
    return sorted(ids, key=lambda i: (image_hash(seed, i), i))  # type: ignore[call-overload]


def usable(out: Path) -> set[int]:
    """The ids of index.csv whose thumbnail file is on disk."""
    rows = [row for row in index_rows(out) if row["thumbnail_path"]]
    assert all((out / row["thumbnail_path"]).is_file() for row in rows), rows
    return {int(row["image_id"]) for row in rows}


def record_gone(url: str, out: Path, ids: list[int], tmp_path: Path) -> None:
    """Fail ``ids`` into DIR (404), then ``harvester forget DIR --gone-ids-from FILE``."""
    failed = harvest(url, out, images=tuple(ids))
    assert failed.failed == len(ids)
    listed = tmp_path / f"{out.name}-gone.txt"
    listed.write_text("".join(f"{i}\n" for i in ids))
    forgot = run_cli("forget", str(out), "--gone-ids-from", str(listed))
    assert forgot.returncode == 0, forgot.stderr


def test_a_new_sample_leaves_gone_images_out_and_takes_the_next_ranked(
    tmp_path: Path, gone_server: tuple[EmulatorThread, GoneApp], demo_refs: dict[int, ImageRef]
) -> None:
    """--sample 5 drawn after 2 of its images were recorded as gone gives 5 usable images
    (the next-ranked two), says so, and the same draw in another folder gives the same."""
    emu, app = gone_server
    order = ranked(demo_refs)
    app.gone = set(order[:2])  # (the two images a sample of any size would draw first)
    picks = []
    for name in ("a", "b"):
        out = tmp_path / name
        record_gone(emu.base_url, out, order[:2], tmp_path)
        app.take()
        summary = harvest(emu.base_url, out, screens=(DEMO_SCREEN,), sample=5, seed=0)
        assert summary.failed == 0 and summary.gone == 0
        assert summary.selection == (
            "selected 5 of 80 walked images (sample 5, seed 0); 2 images recorded as gone"
            " from the server left out"
        )
        assert app.take() & app.gone == set()  # (nothing asked for them)
        assert len(index_rows(out)) == 5  # (a gone image with no file has no row)
        picks.append(usable(out))
    assert picks[0] == picks[1] == set(order[2:7])


def test_a_resume_keeps_the_journaled_sample_and_a_larger_one_leaves_them_out(
    tmp_path: Path, gone_server: tuple[EmulatorThread, GoneApp], demo_refs: dict[int, ImageRef]
) -> None:
    """A sample drawn before 2 of its images were recorded as gone is resumed unchanged
    (nothing fetched, the same rows, said on the selection line); a larger sample drawn
    afterwards leaves them out and keeps every usable image of the first."""
    emu, app = gone_server
    order = ranked(demo_refs)
    app.gone = set(order[:2])
    out = tmp_path / "d"
    first = harvest(emu.base_url, out, screens=(DEMO_SCREEN,), sample=5, seed=0)
    assert first.failed == 2
    assert usable(out) == set(order[2:5])
    listed = tmp_path / "failed.txt"
    listed.write_text(run_cli("status", str(out), "--failed-ids").stdout)
    forgot = run_cli("forget", str(out), "--gone-ids-from", str(listed))
    assert forgot.returncode == 0, forgot.stderr

    kept = (
        "selected 5 of 80 walked images (sample 5, seed 0); 2 sampled images recorded as gone"
        " from the server after the sample was drawn keep their places (a new --sample or"
        " --seed draws without them)"
    )
    app.take()
    dry = run_cli("harvest", "--out", str(out), "--rate", "none", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert kept in dry.stdout  # (the dry run shows the sample the resume fetches)
    resumed = run_cli("harvest", "--out", str(out), "--rate", "none")
    assert resumed.returncode == 0, resumed.stderr
    assert app.take() == set()  # (no image asked for: neither the gone nor a replacement)
    assert usable(out) == set(order[2:5])
    assert kept in resumed.stdout

    larger = harvest(emu.base_url, out, screens=(DEMO_SCREEN,), sample=7, seed=0)
    assert larger.failed == 0 and larger.gone == 0
    assert "2 images recorded as gone from the server left out" in larger.selection
    assert usable(out) == set(order[2:9])


def test_a_class_of_a_per_class_sample_takes_its_next_ranked_image(
    tmp_path: Path, gone_server: tuple[EmulatorThread, GoneApp], demo_refs: dict[int, ImageRef]
) -> None:
    """--sample 2 --sample-per Phenotype drawn after a class's first-ranked image was
    recorded as gone takes that class's third-ranked image instead: 2 usable in each class."""
    emu, app = gone_server
    ranks, label = _ranks_by_class(demo_refs)
    gone = ranks[label][0]
    app.gone = {gone}
    out = tmp_path / "d"
    record_gone(emu.base_url, out, [gone], tmp_path)
    summary = harvest(emu.base_url, out, screens=(DEMO_SCREEN,), sample=2, seed=0, sample_per=KEY)
    assert summary.failed == 0 and summary.gone == 0
    assert "1 image recorded as gone from the server left out" in summary.selection
    expected = {i for lab, ids in ranks.items() for i in ids[:2] if lab != label}
    expected |= set(ranks[label][1:3])
    assert usable(out) == expected


def test_a_plan_made_after_they_were_recorded_leaves_them_out(
    tmp_path: Path, gone_server: tuple[EmulatorThread, GoneApp], demo_refs: dict[int, ImageRef]
) -> None:
    """`harvester plan --sample 5` into a folder with 2 images recorded as gone plans the 5
    next-ranked others, and its selected line says the 2 were left out."""
    emu, app = gone_server
    order = ranked(demo_refs)
    app.gone = set(order[:2])
    out = tmp_path / "d"
    record_gone(emu.base_url, out, order[:2], tmp_path)
    planned = run_cli(
        "plan", "--base-url", emu.base_url, "--screen", str(DEMO_SCREEN), "--sample", "5",
        "--artifacts", "thumbnail", "--out", str(out),
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    assert {r.image_id for r in read_plan(out)} == set(order[2:7])
    assert (
        "selected 5 of 80 walked images (sample 5, seed 0); 2 images recorded as gone from the"
        " server left out"
    ) in planned.stdout


def test_shards_agree_on_the_sample_whenever_the_images_were_recorded(
    tmp_path: Path, gone_server: tuple[EmulatorThread, GoneApp], demo_refs: dict[int, ImageRef]
) -> None:
    """Shard 1 run after 2 images were recorded as gone keeps the sample shard 0 drew before
    (the shards' union is one sample); shards of a sample drawn afterwards both leave them
    out, together holding the 5 next-ranked images."""
    emu, app = gone_server
    order = ranked(demo_refs)
    app.gone = set(order[:2])
    before = tmp_path / "before"
    harvest(emu.base_url, before, screens=(DEMO_SCREEN,), sample=5, shard="0/2")
    listed = tmp_path / "failed.txt"
    listed.write_text(run_cli("status", str(before), "--failed-ids").stdout)
    assert set(map(int, listed.read_text().split())) == set(order[:2])  # (shard 0's, both)
    assert run_cli("forget", str(before), "--gone-ids-from", str(listed)).returncode == 0
    harvest(emu.base_url, before, screens=(DEMO_SCREEN,), sample=5, shard="1/2")
    journaled = {int(i) for i in JournalState.load(before).images}
    assert journaled == set(order[:5])

    after = tmp_path / "after"
    record_gone(emu.base_url, after, order[:2], tmp_path)
    for k in (0, 1):
        summary = harvest(emu.base_url, after, screens=(DEMO_SCREEN,), sample=5, shard=f"{k}/2")
        assert summary.failed == 0 and summary.gone == 0
        assert "2 images recorded as gone from the server left out" in summary.selection
    assert run_cli("index", str(after)).returncode == 0  # (shards leave index.csv to this)
    assert usable(after) == set(order[2:7])


def test_a_sample_larger_than_the_images_left_says_how_many_it_takes() -> None:
    """--sample N more than the walked images but the gone ones says it takes those left."""
    stats = SelectStats(walked=80, matched=80, gone_left_out=2)
    assert short_sample_line(79, stats, filtered=False) == (
        "--sample 79 is more than the 80 walked images but the 2 images recorded as gone from"
        " the server, so the sample is all 78 of them"
    )


def test_a_sample_whose_first_run_never_drew_it_leaves_gone_images_out(
    tmp_path: Path, gone_server: tuple[EmulatorThread, GoneApp], demo_refs: dict[int, ImageRef]
) -> None:
    """A sample whose first run's walk failed (nothing drawn, nothing journaled) is first
    drawn by its rerun: images recorded as gone between the two are left out of it."""
    emu, app = gone_server
    order = ranked(demo_refs)
    app.gone = set(order[:2])
    out = tmp_path / "d"
    app.fail = "wells"  # (every plate's listing fails: the walk ends without a sample)
    failed = harvest(emu.base_url, out, screens=(DEMO_SCREEN,), sample=5, seed=0)
    assert failed.selection == "selected 0 of 0 walked images (sample 5, seed 0)"
    assert not (out / "index.csv").exists() or usable(out) == set()
    app.fail = ""
    record_gone(emu.base_url, out, order[:2], tmp_path)
    app.take()
    summary = harvest(emu.base_url, out, screens=(DEMO_SCREEN,), sample=5, seed=0)
    assert summary.selection == (
        "selected 5 of 80 walked images (sample 5, seed 0); 2 images recorded as gone"
        " from the server left out"
    )
    assert app.take() & app.gone == set()
    assert usable(out) == set(order[2:7])


class DownAfterDrawApp(GoneApp):
    """:class:`GoneApp`, down as a whole (503 to every request) from its first thumbnail
    request on while ``down_at_fetch`` is set: a run draws its sample, then fetches none."""

    def __init__(self) -> None:
        super().__init__()
        self.down_at_fetch = False
        self.down = False

    def handle(self, req: Request) -> Response:
        if self.down_at_fetch and "/render_thumbnail/" in req.raw_path:
            self.down = True
        if self.down:
            return Response(503, b"down", "text/plain", route="test:down")
        return super().handle(req)


@pytest.mark.parametrize("between", ["wells", ""], ids=["walk-failed", "resumed"])
def test_a_sample_first_drawn_by_a_run_that_fetched_none_keeps_gone_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_refs: dict[int, ImageRef], between: str
) -> None:
    """A sample drawn (and journaled) by a run that fetched none of it keeps images recorded
    as gone afterwards, after a rerun whose walk failed, or a resume, in between (its walk
    record the latest): the next rerun fetches the journaled sample, not the next-ranked."""
    import harvester.outage

    monkeypatch.setattr(harvester.outage, "FIRST_CHECK", 0.2)
    monkeypatch.setattr(harvester.outage, "CHECK_CAP", 0.2)
    app = DownAfterDrawApp()
    order = ranked(demo_refs)
    out = tmp_path / "d"
    with EmulatorThread(app=app) as emu:
        app.down_at_fetch = True  # (the server goes down once the sample is drawn)
        first = harvest(
            emu.base_url, out, screens=(DEMO_SCREEN,), sample=5, seed=0, outage_wait=0.5
        )
        assert first.server_down and first.done == 0 and first.failed == 0
        state = JournalState.load(out)
        assert set(state.images) == set(order[:5])  # (the sample journaled, none fetched)
        assert not [key for key in [*state.done, *state.failed] if key[0] == "thumbnail"]
        app.down_at_fetch = app.down = False
        app.gone = set(order[:2])
        record_gone(emu.base_url, out, order[:2], tmp_path)  # (by a harvest of those ids)
        app.fail = between  # (a rerun whose walk fails: it draws nothing; or a resume)
        harvest(emu.base_url, out, screens=(DEMO_SCREEN,), sample=5, seed=0)
        app.fail = ""
        app.take()
        last = harvest(emu.base_url, out, screens=(DEMO_SCREEN,), sample=5, seed=0)
    assert last.selection == (
        "selected 5 of 80 walked images (sample 5, seed 0); 2 sampled images recorded as gone"
        " from the server after the sample was drawn keep their places (a new --sample or"
        " --seed draws without them)"
    )
    assert app.take() & set(order[5:]) == set()  # (no next-ranked image asked for)
    assert usable(out) == set(order[2:5])


def test_a_sample_whose_every_match_is_gone_says_it_takes_none(
    tmp_path: Path, gone_server: tuple[EmulatorThread, GoneApp], demo_refs: dict[int, ImageRef]
) -> None:
    """--where matching only images recorded as gone, with --sample 5, selects none and says
    so under --quiet (it was silent with exit 0: every match was left out, none short)."""
    emu, app = gone_server
    counts: dict[tuple[str, str], set[int]] = {}
    for ref in demo_refs.values():
        for key, value in ref.labels:
            if value.strip() and "=" not in key and key.strip() == key:
                counts.setdefault((key, value.strip()), set()).add(ref.image_id)
    (key, value), ids = min(counts.items(), key=lambda item: (len(item[1]), item[0]))
    assert 0 < len(ids) < 5
    app.gone = ids
    out = tmp_path / "d"
    record_gone(emu.base_url, out, sorted(ids), tmp_path)
    app.take()
    result = run_cli(
        "harvest", "--base-url", emu.base_url, "--out", str(out), "--rate", "none",
        "--artifacts", "thumbnail", "--screen", str(DEMO_SCREEN), "-q",
        "--where", f"{key}={value}", "--sample", "5",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    images = "image" if len(ids) == 1 else "images"
    assert (
        f"WARNING harvester.problems: --sample 5 is more than the {len(ids)} of the 80 walked"
        f" images that match but the {len(ids)} {images} recorded as gone from the server, so"
        " no image is sampled"
    ) in result.stderr.splitlines()
    assert app.take() == set()


def test_a_per_class_sample_given_again_in_another_case_keeps_its_draw(
    tmp_path: Path, gone_server: tuple[EmulatorThread, GoneApp], demo_refs: dict[int, ImageRef]
) -> None:
    """--sample-per Phenotype drawn before a sampled image was recorded as gone, given again
    as --sample-per phenotype (one key: keys compare case-blind, one target set): the same
    draw, so the gone image keeps its place and nothing new is fetched (it was taken as a
    new draw, the gone image left out and its class's next-ranked image fetched)."""
    emu, app = gone_server
    ranks, label = _ranks_by_class(demo_refs)
    gone = ranks[label][0]
    app.gone = {gone}
    out = tmp_path / "d"
    first = harvest(emu.base_url, out, screens=(DEMO_SCREEN,), sample=2, seed=0, sample_per=KEY)
    assert first.failed == 1
    drawn = usable(out)
    listed = tmp_path / "failed.txt"
    listed.write_text(run_cli("status", str(out), "--failed-ids").stdout)
    assert run_cli("forget", str(out), "--gone-ids-from", str(listed)).returncode == 0
    app.take()
    again = harvest(
        emu.base_url, out, screens=(DEMO_SCREEN,), sample=2, seed=0, sample_per=KEY.lower()
    )
    assert again.failed == 0 and again.gone == 1
    assert (
        "1 sampled image recorded as gone from the server after the sample was drawn keeps "
        "its place" in again.selection
    ), again.selection
    assert app.take() == set()  # (no image asked for: neither the gone one nor another)
    assert usable(out) == drawn


def _ranks_by_class(demo_refs: dict[int, ImageRef]) -> tuple[dict[str, list[int]], str]:
    """The demo's images by their ``KEY`` class, each class's ids in draw order, and the
    largest class."""
    by_class: dict[str, list[int]] = {}
    for ref in demo_refs.values():
        values = sorted({v.strip() for k, v in ref.labels if k.casefold() == KEY.casefold()})
        if values:
            by_class.setdefault(";".join(values), []).append(ref.image_id)
    ranks = {label: ranked(ids) for label, ids in by_class.items()}
    return ranks, max(ranks, key=lambda lab: len(ranks[lab]))
