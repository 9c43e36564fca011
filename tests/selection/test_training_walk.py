"""What an ML engineer met collecting a labelled training set from the demo emulator.

Found by a walk through the README's training-data section, each over real loopback
sockets through the command line: a label key given twice made every label ``ECT2|ECT2``;
``--sample 50`` of 4 matching images took 4 with no word under ``--quiet``; and a rewrite
that renumbered ``labels.csv`` (another label key) overwrote the only full mapping from a
trained model's label_ids to labels, with a warning that called every label "on no image
any more".
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from selection_helpers import DEMO_SCREEN, harvest, index_rows, run_cli

from harvester.config import RecordedRun, target_set
from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.http import Request, Response


def harvest_cli(emulator: EmulatorThread, out: Path, *args: str) -> tuple[int, str]:
    """``harvester harvest -q`` of the demo screen's thumbnails; (exit code, stderr)."""
    result = run_cli(
        "harvest", "--base-url", emulator.base_url, "--out", str(out), "--rate", "none",
        "--artifacts", "thumbnail", "--screen", str(DEMO_SCREEN), "-q", *args,
    )  # fmt: skip
    return result.returncode, result.stderr


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("WARNING")]


def labels_table(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_a_label_key_given_twice_in_any_case_is_one_key(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """--label-key 'Gene Symbol' --label-key 'gene symbol' labels ECT2, not ECT2|ECT2."""
    out = tmp_path / "ect2"
    code, stderr = harvest_cli(
        emulator, out, "--where", "Gene Symbol=ECT2",
        "--label-key", "Gene Symbol", "--label-key", "gene symbol",
    )  # fmt: skip
    assert code == 0, stderr
    assert labels_table(out / "labels.csv") == [["label", "label_id", "images"], ["ECT2", "0", "4"]]
    assert {row["label"] for row in index_rows(out)} == {"ECT2"}
    result = run_cli("index", str(out), "--label-key", "PHENOTYPE", "--label-key", "Phenotype")
    assert result.returncode == 0, result.stderr
    assert "'PHENOTYPE' recorded" in result.stdout and "'Phenotype'" not in result.stdout
    assert not any("|" in row["label"] for row in index_rows(out))


def test_a_sample_larger_than_the_selection_is_said_under_quiet(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """--sample 50 of the 4 ECT2 images: all 4 are taken, exit 0, one warning even with -q."""
    out = tmp_path / "ect2"
    code, stderr = harvest_cli(emulator, out, "--where", "Gene Symbol=ECT2", "--sample", "50")
    assert code == 0, stderr
    assert len(index_rows(out)) == 4
    assert warnings(stderr) == [
        "WARNING harvester.problems: --sample 50 is more than the 4 of the 80 walked images"
        " that match, so the sample is all 4 of them"
    ]


def test_a_sample_larger_than_the_study_is_said(emulator: EmulatorThread, tmp_path: Path) -> None:
    """--sample 500 of a screen of 80 images, no filter: all 80, and the warning says so."""
    code, stderr = harvest_cli(emulator, tmp_path / "all", "--sample", "500")
    assert code == 0, stderr
    assert warnings(stderr) == [
        "WARNING harvester.problems: --sample 500 is more than the 80 walked images, so the"
        " sample is all 80 of them"
    ]


def test_a_dry_run_resume_does_not_repeat_the_sample_warning_its_run_said(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """--sample 500 of 80 images warns once; `harvest --out DIR --dry-run` previews the
    resume without saying it again (as the resume itself does not), and one given another
    --sample now still says that one."""
    out = tmp_path / "all"
    code, stderr = harvest_cli(emulator, out, "--sample", "500")
    assert code == 0 and len(warnings(stderr)) == 1, stderr
    dry = run_cli("harvest", "--out", str(out), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run: 80 images found, 0 artifacts to fetch" in dry.stdout, dry.stdout
    assert warnings(dry.stderr) == [], dry.stderr
    other = run_cli("harvest", "--out", str(out), "--dry-run", "--sample", "600", "-q")
    assert other.returncode == 0, other.stderr
    assert warnings(other.stderr) == [
        "WARNING harvester.problems: --sample 600 is more than the 80 walked images, so the"
        " sample is all 80 of them"
    ], other.stderr


def test_the_same_command_again_does_not_repeat_the_sample_warning(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """--sample 500 of 80 images typed again into its folder warns once, not on every run;
    another --sample is a change of selection and says its own (once), though it fetches
    nothing; the first again after it finds its own words recorded, unchanged, and stays
    quiet; the same command into a new folder still says it."""
    out = tmp_path / "all"
    line = (
        "WARNING harvester.problems: --sample {} is more than the 80 walked images, so the"
        " sample is all 80 of them"
    )
    code, stderr = harvest_cli(emulator, out, "--sample", "500")
    assert (code, warnings(stderr)) == (0, [line.format(500)]), stderr
    code, stderr = harvest_cli(emulator, out, "--sample", "500")
    assert (code, warnings(stderr)) == (0, []), stderr
    assert len(index_rows(out)) == 80
    code, stderr = harvest_cli(emulator, out, "--sample", "600")
    assert (code, warnings(stderr)) == (0, [line.format(600)]), stderr
    code, stderr = harvest_cli(emulator, out, "--sample", "600")
    assert (code, warnings(stderr)) == (0, []), stderr
    code, stderr = harvest_cli(emulator, out, "--sample", "500")
    assert (code, warnings(stderr)) == (0, []), stderr
    code, stderr = harvest_cli(emulator, tmp_path / "new", "--sample", "500")
    assert (code, warnings(stderr)) == (0, [line.format(500)]), stderr


def test_the_same_command_with_the_server_spelt_otherwise_does_not_repeat_it(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """The server given with a trailing slash or its default port spelt out is the same
    server: the warning said by the first run is not said again (the saved URLs were
    compared as strings)."""
    out = tmp_path / "all"
    code, stderr = harvest_cli(emulator, out, "--sample", "500")
    assert (code, len(warnings(stderr))) == (0, 1), stderr
    slash = ("--base-url", emulator.base_url + "/")
    code, stderr = harvest_cli(emulator, out, "--sample", "500", *slash)
    assert (code, warnings(stderr)) == (0, []), stderr


def test_a_sample_within_the_selection_says_nothing(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """--sample 4 of the 4 ECT2 images is exactly what was asked: no warning."""
    code, stderr = harvest_cli(
        emulator, tmp_path / "ect2", "--where", "Gene Symbol=ECT2", "--sample", "4"
    )
    assert code == 0, stderr
    assert warnings(stderr) == []


def test_another_label_key_keeps_the_renumbered_labels_csv(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Adding a label key renumbers every label: the old labels.csv is kept byte for byte
    beside the new one, the warning names it and blames the keys, not lost images."""
    out = tmp_path / "mitosis"
    code, stderr = harvest_cli(
        emulator, out, "--where", "Phenotype~mitotic", "--sample", "10", "--label-key", "Phenotype"
    )
    assert code == 0, stderr
    before = (out / "labels.csv").read_bytes()
    result = run_cli("index", str(out), "--label-key", "Phenotype", "--label-key", "Gene Symbol")
    assert result.returncode == 0, result.stderr
    (kept,) = out.glob("labels.before-*.csv")
    assert kept.read_bytes() == before
    assert (out / "labels.csv").read_bytes() != before
    assert all("|" in row[0] for row in labels_table(out / "labels.csv")[1:])
    (line,) = warnings(result.stderr)
    assert f"none of its {len(labels_table(kept)) - 1} labels is a label now" in line
    assert "other label keys than when it was written?" in line
    assert "on no image any more" not in line
    assert line.endswith(f"; the replaced labels.csv is kept as {kept}")


def test_only_a_rewrite_that_renumbers_keeps_a_copy(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """The same sample again keeps no copy; a bigger sample with another seed ('BUB1B' sorts
    before 'CDC20', 1 -> 2) keeps the old labels.csv once, named in the warning."""
    out = tmp_path / "genes"
    for _ in range(2):
        code, stderr = harvest_cli(emulator, out, "--sample", "3", "--label-key", "Gene Symbol")
        assert code == 0, stderr
        assert warnings(stderr) == []
    assert list(out.glob("labels.before-*")) == []
    before = (out / "labels.csv").read_bytes()
    assert labels_table(out / "labels.csv")[1:] == [
        ["AURKA", "0", "1"], ["CDC20", "1", "1"], ["PRC1", "2", "1"]
    ]  # fmt: skip
    code, stderr = harvest_cli(emulator, out, "--sample", "20", "--seed", "7")
    assert code == 0, stderr
    (kept,) = out.glob("labels.before-*.csv")
    assert kept.read_bytes() == before
    assert ["CDC20", "2", "2"] in labels_table(out / "labels.csv")
    (line,) = [line for line in warnings(stderr) if "label_ids changed" in line]
    assert "(e.g. 'CDC20': was 1, now 2)" in line
    assert line.endswith(f"; the replaced labels.csv is kept as {kept}")


def test_a_misspelt_value_names_the_nearest_values(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """--where 'Gene Symbol=ECT3' (a typo, not a case slip): the warning suggests ECT2."""
    code, stderr = harvest_cli(emulator, tmp_path / "typo", "--where", "Gene Symbol=ECT3")
    assert code == 0, stderr
    assert warnings(stderr) == [
        "WARNING harvester.problems: --where 'Gene Symbol=ECT3': no value of key 'Gene Symbol'"
        " on the 80 walked images is 'ECT3', so this term matches no image; did you mean"
        " 'Gene Symbol=ECT2'?"
    ]
    assert index_rows(tmp_path / "typo") == []


class BrokenThumbnails:
    """The demo emulator, whose thumbnails answer 500 while ``broken`` is set."""

    def __init__(self) -> None:
        self.inner = build_application("demo", 0, "omeroweb")
        self.broken = False

    def handle(self, req: Request) -> Response:
        if self.broken and "render_thumbnail" in req.raw_path:
            return Response(500, b"<h1>Server Error (500)</h1>", "text/html", route="test:broken")
        return self.inner.handle(req)


def test_a_resume_retries_every_class_of_a_balanced_set(tmp_path: Path) -> None:
    """One --where per class into one DIR (a balanced set): the classes are target sets of
    their own, so `harvest --out DIR` retries an older class's failures (it replayed the
    newest class alone, exit 0, the failures left). --sample 5 is more than either class:
    said by each class's own run, not again by the replays, nor the index note."""
    app = BrokenThumbnails()
    out = tmp_path / "balanced"
    with EmulatorThread(app=app) as emu:
        for gene, broken in (("ECT2", True), ("PLK1", False)):
            app.broken = broken
            result = run_cli(
                "harvest", "--base-url", emu.base_url, "--out", str(out), "--rate", "none",
                "--screen", str(DEMO_SCREEN), "--artifacts", "thumbnail", "--max-retries", "0",
                "--where", f"Gene Symbol={gene}", "--sample", "5", "--label-key", "Gene Symbol",
                "-q",
            )  # fmt: skip
            assert result.returncode == (1 if broken else 0), result.stderr
            assert "--sample 5 is more than the" in result.stderr
        assert {row["label"] for row in index_rows(out)} == {"PLK1"}
        result = run_cli("harvest", "--out", str(out), "--rate", "none")
    assert result.returncode == 0, result.stderr
    assert "target set 2 of 2" in result.stderr
    assert "Gene Symbol=ECT2" in result.stderr
    assert "index.csv lists" not in result.stderr and "is more than" not in result.stderr
    assert labels_table(out / "labels.csv")[1:] == [["ECT2", "0", "4"], ["PLK1", "1", "3"]]
    status = run_cli("status", str(out), "--json")
    assert json.loads(status.stdout)["totals"]["failed"] == 0


def test_where_terms_make_a_target_set_as_the_selection_reads_them() -> None:
    """Terms in another order or key case are one set; another term, or none, is another."""

    def key(*where: str, sample: int = 2) -> str:
        config = {"screens": [DEMO_SCREEN], "where": list(where), "sample": sample}
        return target_set(RecordedRun("run", config))

    one = key("Gene Symbol=ECT2", "Phenotype~mitotic")
    assert key("phenotype ~ mitotic", "gene symbol=ECT2", sample=50) == one
    assert key("Gene Symbol=PLK1", "Phenotype~mitotic") != one
    assert key("Gene Symbol=ect2", "Phenotype~mitotic") != one  # '=' is case-sensitive
    assert key("Gene Symbol=ECT2", "Phenotype~MITOTIC") == one  # '~' is not
    assert key("Gene Symbol!=ect2") != key("Gene Symbol!=ECT2")
    assert key() != one and key() == target_set(RecordedRun("run", {"screens": [DEMO_SCREEN]}))


def test_a_contains_term_in_another_case_is_resumed_as_one_set(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """`--where Phenotype~Mitotic`, then `--where phenotype~MITOTIC` (the same images) into
    one DIR: `harvest --out DIR` resumes one target set, not two (it walked the selection
    twice, replaying the older spelling after the newer)."""
    out = tmp_path / "mitotic"
    code, stderr = harvest_cli(emulator, out, "--where", "Phenotype~Mitotic")
    assert code == 0, stderr
    # The second run asks more of the same images (their metadata), so that it records a run.
    code, stderr = harvest_cli(
        emulator, out, "--where", "phenotype~MITOTIC", "--artifacts", "thumbnail,metadata"
    )
    assert code == 0, stderr
    result = run_cli("harvest", "--out", str(out), "--rate", "none")
    assert result.returncode == 0, result.stderr
    assert "target set" not in result.stderr
    assert "--where 'phenotype~MITOTIC'" in result.stderr  # the newest run's spelling wins


def test_a_plan_of_no_image_does_not_say_submit(emulator: EmulatorThread, tmp_path: Path) -> None:
    """plan --where 'Gene Symbol=ECT3' plans 0 images: no 'next: harvester slurm ...
    --submit' for an empty job array, but what to change (the config file's key when the
    terms came from one); the replan with --force works."""
    out = tmp_path / "planned"
    args = (
        "plan", "--base-url", emulator.base_url, "--rate", "none",
        "--screen", str(DEMO_SCREEN), "--out", str(out),
    )  # fmt: skip
    result = run_cli(*args, "--where", "Gene Symbol=ECT3", "--sample", "5")
    assert result.returncode == 0, result.stderr
    assert "next:" not in result.stdout and "--submit" not in result.stdout
    assert result.stdout.splitlines()[-1] == (
        "nothing to harvest: the plan holds no image; change the --where terms (see the"
        " warnings above) and plan again with --force"
    )
    assert "did you mean 'Gene Symbol=ECT2'?" in result.stderr
    # The same terms from a config file: its key is what to change, there is no --where.
    config = tmp_path / "study.toml"
    config.write_text('where = ["Gene Symbol=ECT3"]\n', encoding="utf-8")
    result = run_cli(*args[:1], str(config), *args[1:], "--force")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        f"nothing to harvest: the plan holds no image; change where = [...] in {config} (see the"
        " warnings above) and plan again with --force"
    )
    result = run_cli(*args, "--where", "Gene Symbol=ECT2", "--force")
    assert result.returncode == 0, result.stderr
    assert "planned 4 images" in result.stdout
    assert "next: harvester slurm" in result.stdout


def test_the_same_command_into_a_new_folder_rebuilds_the_set_through_faults(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A colleague's rerun of the saved command on a flaky server (503s, cut answers) picks
    the same images with the same labels and label ids as the clean first run."""
    settings = {
        "screens": (DEMO_SCREEN,),
        "where": ("Phenotype~mitotic",),
        "sample": 10,
        "seed": 3,
        "label_keys": ("Phenotype",),
    }
    clean, flaky = tmp_path / "mine", tmp_path / "theirs"
    first = harvest(make_emulator(preset="demo").base_url, clean, **settings)
    emu = make_emulator(preset="demo", faults="503:15%,truncate:5%,seed:4")
    again = harvest(emu.base_url, flaky, max_retries=8, **settings)
    assert (first.failed, again.failed) == (0, 0)
    assert sum(emu.stats()["faults"].values()) > 0
    assert len(index_rows(clean)) == 10
    columns = ("image_id", "label", "label_id")
    assert [[r[c] for c in columns] for r in index_rows(flaky)] == [
        [r[c] for c in columns] for r in index_rows(clean)
    ]
    assert (flaky / "labels.csv").read_bytes() == (clean / "labels.csv").read_bytes()


def test_a_sample_first_walked_by_the_resume_is_said_by_it(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """A first run whose walk failed a listing fetches no sample and so never said that
    --sample 500 is more than the screen; the resume that walks it all says it (it is not a
    repeat there), once."""
    emu = make_emulator(preset="demo", faults="first:500,only:api_plate_wells")
    out = tmp_path / "all"
    code, stderr = harvest_cli(emu, out, "--sample", "500", "--max-retries", "0")
    assert code == 1, stderr
    assert "is more than" not in stderr
    result = run_cli("harvest", "--out", str(out), "--rate", "none", "-q")
    assert result.returncode == 0, result.stderr
    assert warnings(result.stderr) == [
        "WARNING harvester.problems: --sample 500 is more than the 80 walked images, so the"
        " sample is all 80 of them"
    ]
    assert len(index_rows(out)) == 80


class BrokenWells:
    """The demo emulator, whose plates' well listings answer 500 while ``broken`` is set."""

    def __init__(self) -> None:
        self.inner = build_application("demo", 0, "omeroweb")
        self.broken = False

    def handle(self, req: Request) -> Response:
        if self.broken and "/wells/" in req.raw_path:
            return Response(500, b"<h1>Server Error (500)</h1>", "text/html", route="test:broken")
        return self.inner.handle(req)


def test_the_index_note_is_said_by_the_resume_that_first_walks_the_selection(
    tmp_path: Path,
) -> None:
    """PLK1's 3 images, then --sample 10 of the screen whose walk failed a listing (nothing
    fetched, no note): the resume that walks it all says index.csv lists more than it
    selected, once (not again for the PLK1 set replayed after it)."""
    app = BrokenWells()
    out = tmp_path / "d"
    with EmulatorThread(app=app) as emu:
        code, stderr = harvest_cli(emu, out, "--where", "Gene Symbol=PLK1")
        assert code == 0, stderr
        app.broken = True
        code, stderr = harvest_cli(emu, out, "--sample", "10", "--max-retries", "0")
        assert code == 1 and "index.csv lists" not in stderr, stderr
        app.broken = False
        result = run_cli("harvest", "--out", str(out), "--rate", "none", "-q")
    assert result.returncode == 0, result.stderr
    rows = len(index_rows(out))
    assert rows > 10
    notes = [line for line in warnings(result.stderr) if "index.csv lists" in line]
    assert notes == [
        f"WARNING harvester.problems: index.csv lists {rows} images, {rows - 10} more than this"
        " run selected: it lists every image harvested into this folder (earlier selections,"
        " such as a larger --sample or other --where terms; an image whose labels changed so"
        " that it no longer matches the terms that selected it leaves it once their run asks"
        " its labels again, --refresh-labels); harvest each training set into a"
        " folder of its own (one run per class of a balanced set wants this union)"
    ]
