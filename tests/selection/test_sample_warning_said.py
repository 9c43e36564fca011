"""A sample's warning (``--sample N`` more than there is) is said again whenever its words
change, and only then.

An identical rerun stayed quiet because the last walk was by a run of the same selection,
whatever it had said: ``--sample 50`` of 80 images (nothing to say) rerun once 40 were left
said nothing; ``--sample 500`` rerun once 70 of 80 were left did not say the new count; and
``--sample 600`` after ``--sample 500``, fetching nothing, kept no record and warned on every
run. Walk records now keep digests of the words said, per selection and server. Over the
demo emulator, through the command line; images leave the screen's well listings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hiding_app import HidingApp
from selection_helpers import harvest_said, index_ids, resume_said, run_cli


def more_than(n: int, walked: int) -> str:
    return (
        f"--sample {n} is more than the {walked} walked images, so the sample is all {walked}"
        " of them"
    )


def test_the_identical_rerun_and_its_resume_stay_quiet(tmp_path: Path, make_emulator: Any) -> None:
    """--sample 500 of 80 says it once: the same command again, and `harvest --out DIR`,
    have nothing new to say."""
    emu = make_emulator(app=HidingApp())
    out = tmp_path / "all"
    assert harvest_said(emu, out, "--sample", "500") == (0, [more_than(500, 80)])
    assert harvest_said(emu, out, "--sample", "500") == (0, [])
    assert resume_said(out) == (0, [])
    assert len(index_ids(out)) == 80


def test_a_sample_that_fitted_says_so_once_images_are_gone(
    tmp_path: Path, make_emulator: Any
) -> None:
    """(a) --sample 50 of 80 has nothing to say; once 40 images left the screen, the same
    command says that 50 is more than the 40 left, once."""
    app = HidingApp()
    emu = make_emulator(app=app)
    out = tmp_path / "fifty"
    assert harvest_said(emu, out, "--sample", "50") == (0, [])
    app.hidden = set(sorted(index_ids(out))[:40])
    assert harvest_said(emu, out, "--sample", "50") == (0, [more_than(50, 40)])
    assert harvest_said(emu, out, "--sample", "50") == (0, [])
    assert resume_said(out) == (0, [])


def test_a_new_count_is_said_again_by_the_rerun_and_by_a_resume(
    tmp_path: Path, make_emulator: Any
) -> None:
    """(b) --sample 500 of 80, then 10 images leave: the rerun says 70, not nothing; then
    5 more leave: the resume (`harvest --out DIR`) says 65; and nothing new, nothing said."""
    app = HidingApp()
    emu = make_emulator(app=app)
    out = tmp_path / "all"
    assert harvest_said(emu, out, "--sample", "500") == (0, [more_than(500, 80)])
    ids = sorted(index_ids(out))
    app.hidden = set(ids[:10])
    assert harvest_said(emu, out, "--sample", "500") == (0, [more_than(500, 70)])
    assert harvest_said(emu, out, "--sample", "500") == (0, [])
    app.hidden = set(ids[:15])
    assert resume_said(out) == (0, [more_than(500, 65)])
    assert resume_said(out) == (0, [])
    assert harvest_said(emu, out, "--sample", "500") == (0, [])


def test_a_run_that_fetches_nothing_records_what_it_said(
    tmp_path: Path, make_emulator: Any
) -> None:
    """(c) --sample 600 after --sample 500 fetches nothing (all 80 are there) but says its
    warning once, not on every run; the thumbnails are not asked again."""
    emu = make_emulator(app=HidingApp())
    out = tmp_path / "all"
    assert harvest_said(emu, out, "--sample", "500") == (0, [more_than(500, 80)])
    asked = emu.stats()["by_route"]["image:thumbnail"]
    assert harvest_said(emu, out, "--sample", "600") == (0, [more_than(600, 80)])
    assert harvest_said(emu, out, "--sample", "600") == (0, [])
    assert emu.stats()["by_route"]["image:thumbnail"] == asked
    assert harvest_said(emu, out, "--sample", "600", "--seed", "1") == (0, [more_than(600, 80)])


def test_a_walk_record_of_an_older_version_tells_nothing(
    tmp_path: Path, make_emulator: Any
) -> None:
    """Journals written before walk records kept what was said (no ``sample_said``) are
    read as before: the rerun says the warning (said twice rather than never), then
    records it."""
    emu = make_emulator(app=HidingApp())
    out = tmp_path / "all"
    assert harvest_said(emu, out, "--sample", "500") == (0, [more_than(500, 80)])
    for journal in (out / "journals").glob("*.jsonl"):
        records = [json.loads(line) for line in journal.read_text().splitlines()]
        for rec in records:
            rec.pop("sample_said", None)
            rec.pop("sample_draw", None)
        journal.write_text("".join(json.dumps(rec) + "\n" for rec in records))
    assert harvest_said(emu, out, "--sample", "500") == (0, [more_than(500, 80)])
    assert harvest_said(emu, out, "--sample", "500") == (0, [])
    assert run_cli("verify", str(out)).returncode == 0
