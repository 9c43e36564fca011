"""A ``--where`` warning (a term that matches nothing) is said once per folder, selection,
targets and shard, and again only when its words change: as a sample's warning is.

The sample's warnings were remembered by digests in the walk's record, but the ``--where``
warnings were said by every run: the identical command again, and each resume of it (a
nightly mirror's ``harvest --out DIR``), repeated ``did you mean 'Phenotype=mitotic
delay'?``. Now both go into the walk's record (``sample_said``), and a changed count of
walked images (images gone from the server) says the line again. Over the demo emulator,
through the command line; images leave the screen's well listings (``HidingApp``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hiding_app import HidingApp
from selection_helpers import (
    DEMO_SCREEN,
    harvest_said,
    index_ids,
    problems_said,
    resume_said,
    run_cli,
)

from harvester.emulator import EmulatorThread
from harvester.select import warning_digest

#: Matches 13 of the demo's 80 images; the second term is a slip of case ('mitotic delay').
WHERE = ("--where", "Phenotype=mitotic arrest", "--where", "Phenotype=Mitotic delay")


def harvest(emu: EmulatorThread, out: Path, *args: str) -> tuple[int, list[str]]:
    """``harvester harvest -q`` of the demo screen's thumbnails, its ``WHERE`` terms first:
    exit code, warnings."""
    return harvest_said(emu, out, *WHERE, *args)


def slip(walked: int) -> str:
    return (
        "--where 'Phenotype=Mitotic delay': no value of key 'Phenotype' on the"
        f" {walked} walked images is 'Mitotic delay', so this term matches no image; did you"
        " mean 'Phenotype=mitotic delay'?"
    )


def test_an_unchanged_where_warning_is_not_said_again(tmp_path: Path, make_emulator: Any) -> None:
    """Said by the first run; not by the same command again nor by its resume (a digest in
    the walk's record, as the sample's warnings keep: not the warning's words)."""
    emu = make_emulator(app=HidingApp())
    out = tmp_path / "arrest"
    assert harvest(emu, out) == (0, [slip(80)])
    assert harvest(emu, out) == (0, [])
    assert resume_said(out) == (0, [])
    records = [
        json.loads(line)
        for journal in (out / "journals").glob("*.jsonl")
        for line in journal.read_text().splitlines()
    ]
    said = [rec["sample_said"] for rec in records if "sample_said" in rec]
    assert said and all(len(digests) == 1 for digests in said)
    assert "Mitotic delay" not in json.dumps(said)


def test_a_where_warning_whose_count_changed_is_said_again(
    tmp_path: Path, make_emulator: Any
) -> None:
    """An image left the server: the rerun's line counts 79 walked images, said again; the
    resume after it has nothing new to say."""
    app = HidingApp()
    emu = make_emulator(app=app)
    out = tmp_path / "arrest"
    assert harvest(emu, out) == (0, [slip(80)])
    app.hidden = {min(index_ids(out))}
    assert harvest(emu, out) == (0, [slip(79)])
    assert resume_said(out) == (0, [])


def test_another_selection_says_its_own_warnings(tmp_path: Path, make_emulator: Any) -> None:
    """With a sample too, the --where line and the sample's line are said once each; another
    selection (another sample) is a new question: its lines are said, the --where one too."""
    emu = make_emulator(app=HidingApp())
    out = tmp_path / "arrest"
    more = "is more than the 13 of the 80 walked images that match, so the sample is all 13"
    code, lines = harvest(emu, out, "--sample", "500")
    assert code == 0 and lines == [slip(80), f"--sample 500 {more} of them"]
    assert resume_said(out) == (0, [])
    code, lines = harvest(emu, out, "--sample", "600")
    assert code == 0 and lines == [slip(80), f"--sample 600 {more} of them"]


def test_a_dry_run_records_nothing_and_an_older_record_tells_nothing(
    tmp_path: Path, make_emulator: Any
) -> None:
    """A ``--dry-run`` preview says the line and keeps no record: the run after it says it
    too. Walk records without digests (0.1.22 wrote none for a walk that drew no sample)
    tell nothing: the line is said once more, then not again."""
    emu = make_emulator(app=HidingApp())
    out = tmp_path / "arrest"
    assert harvest(emu, out, "--dry-run") == (0, [slip(80)])
    assert harvest(emu, out) == (0, [slip(80)])
    assert harvest(emu, out) == (0, [])
    for journal in (out / "journals").glob("*.jsonl"):
        records = [json.loads(line) for line in journal.read_text().splitlines()]
        for rec in records:
            rec.pop("sample_said", None)
            rec.pop("sample_draw", None)
        journal.write_text("".join(json.dumps(rec) + "\n" for rec in records))
    assert harvest(emu, out) == (0, [slip(80)])
    assert harvest(emu, out) == (0, [])


def test_a_spelling_line_whose_images_changed_is_said_again(
    tmp_path: Path, make_emulator: Any
) -> None:
    """Found in review: the line naming another spelling of a term's value had no count, so
    its words were the same for 1 image as for 300, and once said it stayed unsaid however
    many images came to hold the spelling. It counts them now: a changed count is said."""
    app = HidingApp()
    emu = make_emulator(app=app)

    def run(out: Path, term: str) -> list[str]:
        result = run_cli(
            "harvest", "--base-url", emu.base_url, "--out", str(out), "--rate", "none",
            "--artifacts", "thumbnail", "--screen", str(DEMO_SCREEN), "-q", "--where", term,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return problems_said(result.stderr)

    def kept(count: int) -> str:
        return (
            "--where 'Phenotype!=Mitotic arrest': '!=' is exact and case-sensitive, so images"
            " whose 'Phenotype' is 'mitotic arrest' (the same but for case or spacing;"
            f" {count} walked images hold it) are kept; to exclude them too, add --where"
            " 'Phenotype!=mitotic arrest'"
        )

    assert run(tmp_path / "arrest", "Phenotype=mitotic arrest") == []
    arrest = index_ids(tmp_path / "arrest")
    out = tmp_path / "others"
    assert run(out, "Phenotype!=Mitotic arrest") == [kept(len(arrest))]
    assert run(out, "Phenotype!=Mitotic arrest") == []
    app.hidden = {min(arrest)}
    assert run(out, "Phenotype!=Mitotic arrest") == [kept(len(arrest) - 1)]


def test_a_term_given_twice_is_told_once(tmp_path: Path, make_emulator: Any) -> None:
    """Found in review: a term repeated (a list of terms pasted twice) had its line said
    twice, and its digest kept twice in the walk's record."""
    emu = make_emulator(app=HidingApp())
    out = tmp_path / "arrest"
    assert harvest(emu, out, *WHERE) == (0, [slip(80)])
    said = [
        json.loads(line).get("sample_said")
        for journal in (out / "journals").glob("*.jsonl")
        for line in journal.read_text().splitlines()
    ]
    assert [digests for digests in said if digests] == [[warning_digest(slip(80))]]
