"""Selection through the command line and the config file: flags, summary line, errors."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from selection_helpers import DEMO_SCREEN, HeldRoute, index_rows, run_cli, start_cli

from harvester.config import resolve
from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.http import Request, Response
from harvester.errors import ConfigError


def test_cli_flags_select_sample_and_label(emulator: EmulatorThread, tmp_path: Path) -> None:
    """harvest --where/--sample/--seed/--label-key: exit 0, a selection line, a labelled index."""
    out = tmp_path / "train"
    result = run_cli(
        "harvest", "--base-url", emulator.base_url, "--screen", str(DEMO_SCREEN),
        "--out", str(out), "--rate", "none", "--artifacts", "thumbnail",
        "--where", "Phenotype~mitotic", "--where", "Gene Symbol!=PLK1",
        "--sample", "5", "--seed", "4", "--label-key", "Gene Symbol", "--label-key", "Phenotype",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "selected 5 of 80 walked images (where Phenotype~mitotic and Gene Symbol!=PLK1" in (
        result.stdout
    )
    rows = index_rows(out)
    assert len(rows) == 5
    for row in rows:
        gene, phenotype = row["label"].split("|")
        assert gene == row["Gene Symbol"] != "PLK1"
        assert "mitotic" in phenotype
        assert row["label_id"].isdigit()
    assert emulator.stats()["image_requests"] == 5


def test_dry_run_counts_the_selection(emulator: EmulatorThread, tmp_path: Path) -> None:
    """--dry-run with --sample reports the selected images and fetches nothing."""
    result = run_cli(
        "harvest", "--base-url", emulator.base_url, "--screen", str(DEMO_SCREEN),
        "--out", str(tmp_path / "dry"), "--rate", "none", "--sample", "7", "--dry-run",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "dry run: 7 images found, 28 artifacts to fetch" in result.stdout
    assert emulator.stats()["image_requests"] == 0


def test_config_file_keys(tmp_path: Path) -> None:
    """where, sample, sample_fraction, seed and label_keys are config-file keys; flags win."""
    path = tmp_path / "train.toml"
    path.write_text(
        'screens = [2302]\nwhere = "Phenotype~mitotic"\nsample = 10\nsample_fraction = 1\n'
        'seed = 3\nlabel_keys = ["Phenotype"]\n',
        encoding="utf-8",
    )
    cfg = resolve(path, {"seed": 9})
    assert [str(c) for c in cfg.where] == ["Phenotype~mitotic"]
    assert (cfg.sample, cfg.sample_fraction, cfg.seed, cfg.label_keys) == (
        10, 1.0, 9, ("Phenotype",)
    )  # fmt: skip
    assert cfg.to_public()["where"] == ["Phenotype~mitotic"]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('where = ["Gene Symbol"]', "where: 'Gene Symbol' is not KEY=VALUE"),
        ('where = ["Gene Symbol="]', "has no value"),
        ("where = 3", "where: expected a list"),
        ("sample = 0", "sample: 0 must be an integer of at least 1"),
        ("sample = 2.5", "sample: 2.5 must be an integer"),
        ("sample = 0.5", "sample: 0.5 is a share of the images, not a number of them"),
        ('sample = "150%"', "sample: '150%' is not a number of images, nor a share of them: a "
                            "percentage must be more than 0% and at most 100%, given as a "
                            "fraction"),
        ("sample_fraction = 0", "sample_fraction: 0 is not a share of the images: a fraction "
                                "must be more than 0 and at most 1"),
        ("sample_fraction = 1.5", "sample_fraction: 1.5 is not a share of the images: a "
                                  "fraction must be more than 0 and at most 1"),
        ('sample_fraction = "150%"', "sample_fraction: '150%' is not a share of the images: a "
                                     "percentage must be more than 0% and at most 100%, given "
                                     "as a fraction"),
        ('sample_fraction = "10%"', "sample_fraction: '10%' is a percentage: give it as a "
                                    "fraction"),
        ('seed = "x"', "seed: expected an integer"),
        ("seed = 9223372036854775808", "seed: 9223372036854775808 is out of range: a seed is a "
                                       "whole number from -9223372036854775808 to "
                                       "9223372036854775807"),
        ('label_keys = [""]', "label_keys: an annotation key cannot be empty"),
        ('where = ["a=b"]\nlabels = false', "selecting by annotation needs labels"),
    ],
)  # fmt: skip
def test_config_errors(tmp_path: Path, toml: str, message: str) -> None:
    """Bad selection settings in a config file are one-line ConfigErrors."""
    path = tmp_path / "bad.toml"
    path.write_text(f"screens = [2302]\n{toml}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        resolve(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--where", "nonsense"], "error: --where: 'nonsense' is not KEY=VALUE"),
        (["--sample", "0"], "error: --sample: 0 must be an integer of at least 1"),
        (["--sample-fraction", "2"], "error: --sample-fraction: 2 is not a share of the images: "
         "a fraction must be more than 0 and at most 1"),
        (["--sample-fraction", "1e-400"], "error: --sample-fraction: 1e-400 is not a share of the "
         "images: a fraction must be more than 0 and at most 1 (too small to tell from 0)"),
        (["--sample-per", " "], "error: --sample-per: the annotation key cannot be empty"),
        (["--where", "a=b", "--no-labels"], "error: --where: selecting by annotation needs labels"),
        (["--split", "a=0.5"], "error: --split: the fractions of a=0.5 sum to 0.5, not 1"),
        (["--split", "train=80,val=20"], "error: --split: the fractions of train=80,val=20 "
         "sum to 100, not 1: percentages? as fractions, train=0.8,val=0.2"),
        (["--split-by", "well"], "error: --split-by: says how to split, but no split is given"),
        (["--split-seed", "3"], "error: --split-seed: says how to split, but no split is given"),
        (["--split", "a=1", "--split-by", "x"], "error: --split-by: 'x' is not one of image"),
        (["--seed", "-9223372036854775809"], "error: --seed: -9223372036854775809 is out of "
         "range: a seed is a whole number from -9223372036854775808 to 9223372036854775807"),
        (["--split", "a=1", "--split-seed", "1" + "0" * 60], "error: --split-seed: "
         "10000000000000000000... (61 digits) is out of range: a seed is a whole number from"),
    ],
)  # fmt: skip
def test_cli_errors_exit_2_before_any_request(
    emulator: EmulatorThread, tmp_path: Path, flags: list[str], message: str
) -> None:
    """Bad selection flags: exit 2, one error line naming the flag as typed (not the config
    key), nothing sent, nothing written."""
    out = tmp_path / "never"
    result = run_cli(
        "harvest", "--base-url", emulator.base_url, "--screen", "2302", "--out", str(out), *flags
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[0].startswith(message)
    assert emulator.stats()["requests"] == 0
    assert not out.exists()


@pytest.mark.parametrize(
    ("flags", "hint"),
    [
        (["--sample", "0"], "hint: --sample N keeps N images; a share of them: "
                            "--sample-fraction 0.1"),
        (["--sample-fraction", "10"], "hint: a share of the images: --sample-fraction 0.1 "
                                      "keeps about 10%; a number of them: --sample N"),
    ],
)  # fmt: skip
def test_sample_size_errors_say_what_to_give(tmp_path: Path, flags: list[str], hint: str) -> None:
    """`--sample-fraction 10` (10%? 10 images?) gets a hint with both ways, not a bare range."""
    result = run_cli("harvest", "--screen", "2302", "--out", str(tmp_path / "o"), *flags)
    assert result.returncode == 2
    assert result.stderr.splitlines()[1:] == [hint]


def test_index_names_labels_csv_when_it_rewrote_it(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """`harvester index` says it wrote labels.csv too when label keys made one, and only then."""
    # --rate none: at the default 10/s each harvest waited 1.5 s.
    common = ["--base-url", emulator.base_url, "--plate", "7375", "--artifacts", "thumbnail",
              "--rate", "none"]  # fmt: skip
    labelled, plain = tmp_path / "labelled", tmp_path / "plain"
    assert run_cli("harvest", *common, "--out", str(labelled), "--label-key", "Gene Symbol",
                   "--quiet").returncode == 0  # fmt: skip
    assert run_cli("harvest", *common, "--out", str(plain), "--quiet").returncode == 0
    result = run_cli("index", str(labelled))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"wrote {labelled / 'index.csv'} (8 images) and {labelled / 'labels.csv'} (8 labels)"
    )
    result = run_cli("index", str(plain))
    assert result.stdout.strip() == f"wrote {plain / 'index.csv'} (8 images)"


@pytest.mark.parametrize(
    ("given", "lines"),
    [
        (
            ["--where", "=ECT2"],
            [
                "error: --where: '=ECT2' has no key before '='",
                "hint: put the annotation key first, e.g. --where 'Gene Symbol=ECT2'",
            ],
        ),
        (
            ["--where", "!=PLK1"],
            [
                "error: --where: '!=PLK1' has no key before '!='",
                "hint: put the annotation key first, e.g. --where 'Gene Symbol!=PLK1'",
            ],
        ),
        (
            'where = ["=ECT2"]',
            [
                "error: FILE: where: '=ECT2' has no key before '='",
                "hint: put the annotation key first, e.g. where = ['Gene Symbol=ECT2']",
            ],
        ),
        (
            ["--where", "Gene Symbol="],
            [
                "error: --where: 'Gene Symbol=' has no value after '='",
                "hint: put the value after '=', e.g. --where 'Gene Symbol=VALUE' (an empty"
                " value: a shell variable that is not set?)",
            ],
        ),
        (
            'where = ["Phenotype~ "]',
            [
                "error: FILE: where: 'Phenotype~ ' has no value after '~'",
                "hint: put the value after '~', e.g. where = ['Phenotype~VALUE']",
            ],
        ),
    ],
)
def test_a_where_term_without_a_key_hints_the_form(
    tmp_path: Path, given: list[str] | str, lines: list[str]
) -> None:
    """`--where '=ECT2'` said only `has no key before '='` (and `'Gene Symbol='` only `has no
    value after '='`): a hint shows the whole form, as a flag or as the config file's key."""
    toml = tmp_path / "c.toml"
    toml.write_text(f"screens = [{DEMO_SCREEN}]\n" + (given if isinstance(given, str) else ""))
    flags = given if isinstance(given, list) else []
    out = tmp_path / "never"
    result = run_cli("harvest", str(toml), "--out", str(out), *flags)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [line.replace("FILE", str(toml)) for line in lines]
    assert not out.exists()


@pytest.mark.parametrize(
    ("given", "hint"),
    [
        ('split = "a=0.5"', 'hint: e.g. split = "train=0.8,val=0.1,test=0.1"'),
        ('split = "a=0"', 'hint: e.g. split = "train=0.8,val=0.1,test=0.1"'),
        ('split = "a=1"\nsplit_by = "row"', 'hint: split_by = "well" keeps every field of a'),
    ],
)
def test_a_bad_split_in_a_config_file_hints_the_files_key(
    tmp_path: Path, given: str, hint: str
) -> None:
    """A bad split read from a config file: its hint is written as the file's key, not as
    a flag the user never typed (exit 2, nothing written)."""
    toml = tmp_path / "c.toml"
    toml.write_text(f"screens = [{DEMO_SCREEN}]\n{given}\n", encoding="utf-8")
    out = tmp_path / "never"
    result = run_cli("harvest", str(toml), "--out", str(out))
    assert result.returncode == 2
    error, said = result.stderr.splitlines()
    assert error.startswith(f"error: {toml}: split"), result.stderr
    assert said.startswith(hint) and "--split" not in said, result.stderr
    assert not out.exists()


@pytest.mark.parametrize("flags", [["--split-by", "plate"], ["--split-seed", "3"]])
def test_how_to_split_with_no_split_says_the_split_is_dropped(
    tmp_path: Path, flags: list[str]
) -> None:
    """``--split-by``/``--split-seed`` beside ``--no-split``: the refusal says the split is
    dropped, not that none is given, and its hint does not tell a user who typed
    ``--no-split`` to add a split as if unseen (exit 2, nothing written)."""
    out = tmp_path / "never"
    result = run_cli(
        "harvest", "--base-url", "http://127.0.0.1:9", "--out", str(out),
        "--screen", str(DEMO_SCREEN), *flags, "--no-split",
    )  # fmt: skip
    assert result.returncode == 2
    error, hint = result.stderr.splitlines()
    assert error.startswith(f"error: {flags[0]}: says how to split, but the split is dropped")
    assert hint == (
        f"hint: leave out {flags[0]} with --no-split, or give --split NAME=FRACTION,... "
        "in its place"
    )
    assert not out.exists()


def test_a_negative_seed_is_a_seed_of_its_own(emulator: EmulatorThread, tmp_path: Path) -> None:
    """``--seed -1`` is no "random seed": it takes the images with the smallest
    blake2b("-1:<id>"), the same in every folder, not seed 1's."""
    from harvester.emulator.catalogue import Catalogue
    from harvester.selection import image_hash

    catalogue = Catalogue("demo")
    ids = [
        image
        for plate in catalogue.plates(DEMO_SCREEN)
        for well in catalogue.wells(plate.id)
        for image in catalogue.well_image_ids(well)
    ]
    assert len(ids) == 80

    def smallest(seed: int) -> set[int]:
        return set(sorted(ids, key=lambda image: (image_hash(seed, image), image))[:5])

    assert smallest(-1) != smallest(1)
    for name in ("a", "b"):
        out = tmp_path / name
        result = run_cli(
            "harvest", "--base-url", emulator.base_url, "--screen", str(DEMO_SCREEN),
            "--out", str(out), "--rate", "none", "--artifacts", "thumbnail",
            "--sample", "5", "--seed", "-1",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "selected 5 of 80 walked images (sample 5, seed -1)" in result.stdout
        assert {int(row["image_id"]) for row in index_rows(out)} == smallest(-1)


def test_a_sample_interrupted_while_walking_says_nothing_was_selected_yet(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """Ctrl-C during a sampled run's walk: "nothing selected yet: the walk was interrupted",
    not "selected 0 of N walked images" (a sample is drawn when the walk ends)."""
    app = HeldRoute("api_plate_wells", nth=2)  # (the walk stands still, one plate listed)
    emu = make_emulator(app=app)
    out = tmp_path / "d"
    proc = start_cli(
        "harvest", "--base-url", emu.base_url, "--screen", str(DEMO_SCREEN), "--out", str(out),
        "--rate", "none", "--artifacts", "thumbnail", "--sample", "5", "--concurrency", "1",
    )  # fmt: skip
    with app.released_after(proc):
        assert app.asked.wait(60), "the walk never reached the second plate"
        time.sleep(0.5)  # (the first plate's images reach the selection stage)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "selected 0 of" not in stdout
    assert re.search(
        r"nothing selected yet: the walk was interrupted after \d+ walked images? \(sample 5, "
        r"seed 0\), and a sample is drawn only when the walk has ended",
        stdout,
    ), stdout
    assert not (out / "images").exists() or not any((out / "images").rglob("*.jpg"))


class _DownAtSecondPlate:
    """The demo emulator, down (503 to everything, its API root too) from the second
    plate's well listing on: a walk that fails midway, no signal sent."""

    def __init__(self) -> None:
        self.inner = build_application("demo", 0, "omeroweb")
        self.wells = 0
        self.down = False

    def handle(self, req: Request) -> Response:
        if self.inner.route_name(req) == "api_plate_wells":
            self.wells += 1
            self.down = self.down or self.wells == 2
        if self.down:
            return Response(503, b"<h1>maintenance</h1>", route="test:down")
        return self.inner.handle(req)

    def route_name(self, req: Request) -> str:
        return self.inner.route_name(req)


def test_a_sample_whose_walk_failed_says_it_failed_not_interrupted(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """A sampled walk the server's outage stopped says the walk failed, and why, not that it
    was interrupted (no Ctrl-C came)."""
    emu = make_emulator(app=_DownAtSecondPlate())
    out = tmp_path / "d"
    result = run_cli(
        "harvest", "--base-url", emu.base_url, "--screen", str(DEMO_SCREEN), "--out", str(out),
        "--rate", "none", "--artifacts", "thumbnail", "--sample", "5", "--concurrency", "1",
        "--max-retries", "0", "--outage-wait", "1s",
    )  # fmt: skip
    assert result.returncode == 75, result.stderr
    assert "interrupted" not in result.stdout
    assert re.search(
        r"nothing selected yet: the walk failed after \d+ walked images? \(sample 5, seed 0\): "
        r"the server stayed down for [\d.]+s \(HTTP 503 Service Unavailable\); a sample is "
        r"drawn only when the walk has ended",
        result.stdout,
    ), result.stdout
    assert not (out / "images").exists() or not any((out / "images").rglob("*.jpg"))
