"""``--sample N --sample-per KEY``: N images of each class of KEY in one run, against the
emulator over loopback sockets.

The demo screen's ``Phenotype`` makes a known distribution: 11 classes of 3 to 10 images
(three of them two values, ``a;b``, as the label column joins them) and 21 images without
the key. The expected picks are computed here from the demo's labels and the documented
hash, not by the selection code under test.
"""

from __future__ import annotations

import csv
import shlex
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from selection_helpers import (
    DEMO_SCREEN,
    HeldRoute,
    RecordingApp,
    harvest,
    index_ids,
    index_rows,
    run_cli,
    start_cli,
)

from harvester.cli import build_parser, main
from harvester.cli.harvest import overrides_from_args
from harvester.config import HarvestConfig, recorded_target_sets, resolve
from harvester.emulator import EmulatorThread
from harvester.errors import ConfigError
from harvester.journal import JournalState
from harvester.models import ImageRef
from harvester.plan import plan_targets, read_plan
from harvester.select import sample_key, sample_record_path, short_classes_line
from harvester.selection import Selection, image_hash

Recording = tuple[EmulatorThread, RecordingApp]
KEY = "Phenotype"


def classes(refs: dict[int, ImageRef], key: str = KEY) -> dict[str, list[int]]:
    """Image ids by class: the key's distinct values, sorted, joined with ``;`` (none: left out)."""
    out: dict[str, list[int]] = {}
    for ref in refs.values():
        values = sorted({v.strip() for k, v in ref.labels if k.casefold() == key.casefold()})
        if values:
            out.setdefault(";".join(values), []).append(ref.image_id)
    return out


def per_class(refs: dict[int, ImageRef], n: int, seed: int = 0) -> dict[str, set[int]]:
    """Each class's n images with the smallest (blake2b(seed, id), id)."""
    return {
        label: set(sorted(ids, key=lambda i: (image_hash(seed, i), i))[:n])
        for label, ids in classes(refs).items()
    }


def union(picks: dict[str, set[int]]) -> set[int]:
    return set().union(*picks.values())


def labels_csv(out: Path) -> dict[str, int]:
    """labels.csv as label -> images."""
    with (out / "labels.csv").open(encoding="utf-8", newline="") as handle:
        return {row["label"]: int(row["images"]) for row in csv.DictReader(handle)}


def test_the_demo_distribution_is_what_these_tests_assume(demo_refs: dict[int, ImageRef]) -> None:
    """11 Phenotype classes of 3 to 10 images, 3 of them two values, 21 images without it."""
    sizes = {label: len(ids) for label, ids in classes(demo_refs).items()}
    assert len(sizes) == 11 and min(sizes.values()) == 3 and max(sizes.values()) == 10
    assert sum(";" in label for label in sizes) == 3
    assert len(demo_refs) - sum(sizes.values()) == 21


def test_each_class_gets_exactly_n_images_or_all_it_has(
    recording: Recording, demo_refs: dict[int, ImageRef], tmp_path: Path
) -> None:
    """--sample 5 --sample-per Phenotype: min(5, class size) per class, fetched and indexed."""
    emu, app = recording
    want = per_class(demo_refs, 5)
    summary = harvest(
        emu.base_url, tmp_path, screens=(DEMO_SCREEN,), sample=5, sample_per=KEY, label_keys=[KEY]
    )
    assert summary.exit_code == 0
    assert app.take() == union(want) == index_ids(tmp_path)
    counts = {label: min(5, len(ids)) for label, ids in classes(demo_refs).items()}
    assert Counter(row["label"] for row in index_rows(tmp_path)) == counts
    assert labels_csv(tmp_path) == counts
    assert summary.selection == (
        f"selected {sum(counts.values())} of 80 walked images (sample 5 per {KEY}, seed 0);"
        f" 11 classes of '{KEY}', 21 images without it not sampled"
    )


def test_reproducible_in_fresh_folders_whatever_the_concurrency(
    recording: Recording, demo_refs: dict[int, ImageRef], tmp_path: Path
) -> None:
    """Two fresh folders, concurrency 1 and 16, key spelt in two cases: the same images."""
    emu, app = recording
    want = union(per_class(demo_refs, 4, seed=3))
    common = {"screens": (DEMO_SCREEN,), "sample": 4, "seed": 3}
    harvest(
        emu.base_url, tmp_path / "a", sample_per=KEY, concurrency=1, walk_concurrency=1, **common
    )
    assert app.take() == want == index_ids(tmp_path / "a")
    harvest(emu.base_url, tmp_path / "b", sample_per="phenotype", concurrency=16, **common)
    assert app.take() == want == index_ids(tmp_path / "b")
    assert union(per_class(demo_refs, 4, seed=4)) != want


def test_shards_together_fetch_the_single_process_sample(
    recording: Recording, demo_refs: dict[int, ImageRef], tmp_path: Path
) -> None:
    """--shard 0/2 and 1/2 each take their share of the global per-class sample: disjoint, whole."""
    emu, app = recording
    want = union(per_class(demo_refs, 3))
    fetched = []
    for k in range(2):
        summary = harvest(
            emu.base_url, tmp_path, screens=(DEMO_SCREEN,), sample=3, sample_per=KEY, shard=f"{k}/2"
        )
        assert summary.exit_code == 0
        fetched.append(app.take())
    assert fetched[0] | fetched[1] == want
    assert not fetched[0] & fetched[1] and fetched[0] and fetched[1]
    assert set(JournalState.load(tmp_path).images) == want


def test_where_filters_before_the_classes_are_sampled(
    recording: Recording, demo_refs: dict[int, ImageRef], tmp_path: Path
) -> None:
    """--where 'Gene Symbol!=CDC20' first: no CDC20 image, and each class samples the rest."""
    emu, app = recording
    kept = {i: r for i, r in demo_refs.items() if ("Gene Symbol", "CDC20") not in set(r.labels)}
    want = union(per_class(kept, 2))
    # Sampling first and then dropping CDC20's images would leave a class short: not this.
    assert want != union(per_class(demo_refs, 2)) - (set(demo_refs) - set(kept))
    harvest(
        emu.base_url,
        tmp_path,
        screens=(DEMO_SCREEN,),
        where=["Gene Symbol!=CDC20"],
        sample=2,
        sample_per=KEY,
    )
    assert app.take() == want == index_ids(tmp_path)


def test_a_rerun_fetches_nothing(recording: Recording, tmp_path: Path) -> None:
    """The same command again into the same folder: the same, done images; no image request."""
    emu, app = recording
    values = {"screens": (DEMO_SCREEN,), "sample": 5, "sample_per": KEY}
    first = harvest(emu.base_url, tmp_path, **values)
    assert first.done == 46
    assert not (tmp_path / "samples").exists()  # no edge: labels decide, as with --where
    app.take()
    emu.reset_stats()
    again = harvest(emu.base_url, tmp_path, **values)
    assert again.exit_code == 0 and again.done == 0 and again.skipped == 46
    assert app.take() == set()
    assert emu.stats()["image_requests"] == 0


async def test_plan_holds_the_per_class_sample(
    recording: Recording, demo_refs: dict[int, ImageRef], tmp_path: Path
) -> None:
    """`harvester plan --sample 2 --sample-per Phenotype` plans exactly the per-class sample."""
    emu, _app = recording
    cfg = HarvestConfig(
        base_url=emu.base_url,
        out=tmp_path,
        screens=(DEMO_SCREEN,),
        rate=None,
        sample=2,
        sample_per=KEY,
    )
    with anyio.fail_after(60):
        info = await plan_targets(cfg, tmp_path)
    assert {r.image_id for r in read_plan(tmp_path)} == union(per_class(demo_refs, 2))
    assert info.extra["selection"] == f"sample 2 per {KEY}, seed 0"


def test_cli_labels_by_the_key_and_warns_once_about_short_classes(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """The CLI run: labels.csv by the key (implied), and one short-classes line under --quiet."""
    out = tmp_path / "balanced"
    result = run_cli(
        "harvest", "--base-url", emulator.base_url, "--screen", str(DEMO_SCREEN),
        "--out", str(out), "--rate", "none", "--artifacts", "thumbnail", "--quiet",
        "--sample", "5", "--sample-per", KEY,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    short = [line for line in result.stderr.splitlines() if "fewer than" in line]
    assert short == [
        f"WARNING harvester.problems: --sample 5 --sample-per '{KEY}': 5 of the 11 classes have"
        " fewer than 5 images, so all of their images are taken ('centrosome defect;"
        "microtubules disorganised': 3, 'increased DNA area': 3, 'increased DNA area;mitotic"
        " delay': 3 and 2 more); the classes are not balanced"
    ]
    assert sum(labels_csv(out).values()) == 46 and len(labels_csv(out)) == 11
    assert emulator.stats()["image_requests"] == 46


def test_cli_resume_fetches_nothing_and_keeps_label_keys_given_since(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """`harvest --out DIR` replays --sample-per: no image request, and the label key given to
    `harvester index` since is kept (the replay does not label by the sample's key again)."""
    out = tmp_path / "balanced"
    first = run_cli(
        "harvest", "--base-url", emulator.base_url, "--screen", str(DEMO_SCREEN),
        "--out", str(out), "--rate", "none", "--artifacts", "thumbnail", "--quiet",
        "--sample", "4", "--sample-per", KEY,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "4 of the 11 classes have fewer than 4 images" in first.stderr
    assert run_cli("index", str(out), "--label-key", "Gene Symbol").returncode == 0
    genes = labels_csv(out)
    emulator.reset_stats()
    again = run_cli("harvest", "--out", str(out), "--rate", "none")
    assert again.returncode == 0, again.stderr
    assert emulator.stats()["image_requests"] == 0
    assert labels_csv(out) == genes
    assert "fewer than" not in again.stderr  # said once, by the run it replays


def test_cli_resume_given_another_key_labels_by_it(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """`harvest --out DIR --sample-per Phenotype` on a per-gene folder of `--sample 2`
    samples 2 per phenotype and labels the index by Phenotype, as the same flags with the
    targets typed out do (it kept the genes; and it was refused as needing --sample, the
    folder's not counted). A folder whose run had no --sample is refused so, exit 2."""
    out = tmp_path / "balanced"
    first = run_cli(
        "harvest", "--base-url", emulator.base_url, "--screen", str(DEMO_SCREEN),
        "--out", str(out), "--rate", "none", "--artifacts", "thumbnail", "--quiet",
        "--sample", "2", "--sample-per", "Gene Symbol",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert len(labels_csv(out)) == 24  # the genes
    again = run_cli("harvest", "--out", str(out), "--rate", "none", "--sample-per", KEY)
    assert again.returncode == 0, again.stderr
    assert "(sample 2 per Phenotype, seed 0); 11 classes of 'Phenotype'" in again.stdout
    phenotypes = labels_csv(out)
    assert len(phenotypes) == 11 and "mitotic arrest" in phenotypes
    status = run_cli("status", str(out))
    assert f"label keys (index.csv's label column): '{KEY}'" in status.stdout
    whole = tmp_path / "whole"
    assert main(["harvest", "--base-url", emulator.base_url, "--image", "9762887", "--out",
                 str(whole), "--rate", "none", "--artifacts", "thumbnail", "-q"]) == 0  # fmt: skip
    refused = run_cli("harvest", "--out", str(whole), "--sample-per", KEY)
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[-2:] == [
        "error: --sample-per: sampling per class needs a sample size: how many images of each"
        " class",
        "hint: add --sample N, e.g. --sample 50 --sample-per 'Gene Symbol'",
    ]


def test_sample_per_key_is_part_of_the_target_set(emulator: EmulatorThread, tmp_path: Path) -> None:
    """A sample per Phenotype and one per Gene Symbol into one DIR are two sets, both resumed;
    the key's case does not make a third."""
    common = ["--base-url", emulator.base_url, "--screen", str(DEMO_SCREEN), "--out",
              str(tmp_path), "--rate", "none", "--artifacts", "thumbnail", "--quiet",
              "--sample", "1"]  # fmt: skip
    for key in (KEY, "Gene Symbol", "phenotype"):
        result = run_cli("harvest", *common, "--sample-per", key)
        assert result.returncode == 0, result.stderr
    assert len(recorded_target_sets(tmp_path)) == 2


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("Phenotyp", "did you mean 'Phenotype'?"),
        (
            "Phenotype=mitotic arrest",
            "--sample-per takes a key alone, whose values are the classes: --where"
            " 'Phenotype=mitotic arrest' keeps the images of that term, and --sample-per"
            " 'Phenotype' samples each class of the key",
        ),
    ],
)
def test_a_misspelt_key_is_named(
    emulator: EmulatorThread, tmp_path: Path, key: str, hint: str
) -> None:
    """--sample-per Phenotyp: exit 0, nothing fetched, one warning naming the nearest key; a
    --where term given as the key (it listed the known keys) is told the flags it reads as."""
    result = run_cli(
        "harvest", "--base-url", emulator.base_url, "--screen", str(DEMO_SCREEN),
        "--out", str(tmp_path / "typo"), "--rate", "none", "--artifacts", "thumbnail",
        "--quiet", "--sample", "5", "--sample-per", key,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("WARNING")] == [
        f"WARNING harvester.problems: --sample-per key '{key}' is on none of the 80 walked"
        f" images, so no image has a class and none is sampled; {hint}"
    ]
    assert emulator.stats()["image_requests"] == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--sample-per", KEY], "error: --sample-per: sampling per class needs a sample size"),
        (
            ["--sample", "5", "--sample-per", KEY, "--sample-fraction", "0.5"],
            "error: --sample-per: sampling per class cannot be combined with --sample-fraction",
        ),
        (
            ["--sample", "5", "--sample-per", KEY, "--no-labels"],
            "error: --sample-per: sampling per class needs labels",
        ),
        (["--sample", "5", "--sample-per", " "], "error: --sample-per: the annotation key cannot"),
    ],
)
def test_refusals_exit_2_before_any_request(
    emulator: EmulatorThread, tmp_path: Path, flags: list[str], message: str
) -> None:
    """No --sample, a --sample-fraction, --no-labels, an empty key: exit 2, one error line."""
    out = tmp_path / "never"
    result = run_cli(
        "harvest", "--base-url", emulator.base_url, "--screen", "2302", "--out", str(out), *flags
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(message) and lines[1:2] and lines[1].startswith("hint: ")
    assert "Traceback" not in result.stderr
    assert emulator.stats()["requests"] == 0
    assert not out.exists()


@pytest.mark.parametrize("command", ["harvest", "plan"])
def test_two_keys_are_refused_not_the_last_taken(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """--sample-per 'Gene Symbol' --sample-per Phenotype: exit 2 naming both, nothing asked or
    written (the last key was taken without a word); one key in two cases is that key."""
    out = tmp_path / "never"
    flags = ["--base-url", emulator.base_url, "--screen", str(DEMO_SCREEN), "--out", str(out),
             "--sample", "2", "--sample-per", "Gene Symbol"]  # fmt: skip
    assert main([command, *flags, "--sample-per", KEY]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (
        "error: argument --sample-per: given twice ('Gene Symbol', then 'Phenotype'): a sample"
        " is balanced over the classes of one key, so give --sample-per once (--label-key may"
        " name both keys for the labels)"
    )
    assert lines[1].startswith("hint: ") and len(lines) == 2
    assert emulator.stats()["requests"] == 0 and not out.exists()
    args = build_parser().parse_args([command, *flags, "--sample-per", "gene symbol"])
    assert args.sample_per == "Gene Symbol"


@pytest.mark.parametrize(
    ("config", "flags", "lines"),
    [
        (
            "",
            ["--sample", "5", "--sample-per", KEY, "--sample-fraction", "0.5"],
            [
                "error: --sample-per: sampling per class cannot be combined with --sample-fraction",
                "hint: drop --sample-fraction: a fraction keeps the same share of every class"
                " already; --sample N --sample-per KEY keeps N images of each",
            ],
        ),
        (
            f'sample = 5\nsample_per = "{KEY}"\nsample_fraction = 0.5\n',
            [],
            [
                "error: FILE: sample_per: sampling per class cannot be combined with"
                " sample_fraction",
                "hint: drop sample_fraction: a fraction keeps the same share of every class"
                " already; sample = N with sample_per keeps N images of each",
            ],
        ),
        (
            f'sample = 5\nsample_per = "{KEY}"\n',
            ["--sample-fraction", "0.5"],
            [
                "error: FILE: sample_per: sampling per class cannot be combined with"
                " --sample-fraction",
                "hint: drop --sample-fraction: a fraction keeps the same share of every class"
                " already; --sample N --sample-per KEY keeps N images of each",
            ],
        ),
        (
            f'sample_per = "{KEY}"\n',
            [],
            [
                "error: FILE: sample_per: sampling per class needs a sample size: how many"
                " images of each class",
                "hint: add sample = N, e.g. sample = 50",
            ],
        ),
        (
            f'sample = 5\nsample_per = ["{KEY}", "Gene Symbol"]\n',
            [],
            [
                "error: FILE: sample_per: expected one annotation key, got ['Phenotype',"
                " 'Gene Symbol']: a sample is balanced over the classes of one key",
                'hint: give one, e.g. sample_per = "Gene Symbol" (label_keys may name both'
                " keys for the labels)",
            ],
        ),
        (
            "labels = false\n",
            ["--sample", "5", "--sample-per", KEY],
            ["error: --sample-per: sampling per class needs labels", "hint: remove labels = false"],
        ),
    ],
)
def test_refusals_name_the_flag_or_the_file_key_given(
    tmp_path: Path, config: str, flags: list[str], lines: list[str]
) -> None:
    """A refusal of --sample-per named config keys (sample_per, sample_fraction) to a user
    who typed flags: each setting is now named as given, a flag or the file's key."""
    toml = tmp_path / "c.toml"
    toml.write_text(f"screens = [{DEMO_SCREEN}]\n{config}", encoding="utf-8")
    out = tmp_path / "never"
    result = run_cli("harvest", str(toml), "--out", str(out), *flags)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [line.replace("FILE", str(toml)) for line in lines]
    assert not out.exists()


def test_config_file_key_implies_its_label_key(tmp_path: Path) -> None:
    """sample_per in a file: the label key unless label_keys is given; an empty one refused."""
    path = tmp_path / "train.toml"
    path.write_text(f'screens = [2302]\nsample = 5\nsample_per = " {KEY} "\n', encoding="utf-8")
    cfg = resolve(path)
    assert (cfg.sample_per, cfg.label_keys) == (KEY, (KEY,))
    assert resolve(path, {"label_keys": ["Gene Symbol"]}).label_keys == ("Gene Symbol",)
    path.write_text('screens = [2302]\nsample = 5\nsample_per = ""\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="sample_per: the annotation key cannot be empty"):
        resolve(path)


def test_slurm_tasks_carry_the_per_class_sample(emulator: EmulatorThread, tmp_path: Path) -> None:
    """`harvester slurm --sample 3 --sample-per KEY`: every task's command line has both, and
    harvest reads it as the same per-class sample, labelled by the key."""
    out = tmp_path / "array"
    code = main(["slurm", "--out", str(out), "--base-url", emulator.base_url,
                 "--screen", str(DEMO_SCREEN), "--tasks", "2",
                 "--sample", "3", "--sample-per", KEY])  # fmt: skip
    assert code == 0
    script = (out / "harvest.sbatch").read_text()
    exec_line = next(line for line in script.splitlines() if line.startswith("exec "))
    words = shlex.split(exec_line.removeprefix("exec ").replace('"$K/$N"', "1/2"))
    args = build_parser().parse_args(words[3:])
    cfg = resolve(args.config, overrides_from_args(args))
    assert (cfg.sample, cfg.sample_per, cfg.label_keys, cfg.shard) == (3, KEY, (KEY,), "1/2")


def test_the_sample_record_key_tells_a_per_class_sample_apart(tmp_path: Path) -> None:
    """A per-class sample's record key names its key (in any case); a plain one's is as before."""
    targets = {"screens": [DEMO_SCREEN]}
    plain = sample_key(Selection(sample=5), targets)
    assert "sample_per" not in plain  # the records plain samples wrote keep their names
    per = sample_key(Selection(sample=5, sample_per=KEY), targets)
    assert per == sample_key(Selection(sample=5, sample_per="phenotype "), targets)
    assert sample_record_path(tmp_path, per) != sample_record_path(tmp_path, plain)


@pytest.mark.parametrize(
    ("short", "classes", "line"),
    [
        ({"a": 2}, 1, "--sample 5 --sample-per 'K': the only class has fewer than 5 images, so all"
         " of its images are taken ('a': 2)"),  # (one class: nothing to be unbalanced with)
        ({"a": 2, "b": 1}, 2, "--sample 5 --sample-per 'K': all 2 classes have fewer than 5"
         " images, so all of their images are taken ('b': 1, 'a': 2); the classes are not"
         " balanced"),
        ({"a": 2}, 3, "--sample 5 --sample-per 'K': 1 of the 3 classes has fewer than 5 images,"
         " so all of its images are taken ('a': 2); the classes are not balanced"),
    ],
)  # fmt: skip
def test_short_classes_line_reads_as_a_sentence(
    short: dict[str, int], classes: int, line: str
) -> None:
    """One short class, every class short, some short: the warning's words agree with counts."""
    assert short_classes_line(5, "K", short, classes) == line


def test_every_class_equally_short_is_not_called_unbalanced(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Every class with the same fewer images than asked (one image per gene on a plate) is
    balanced: the line says each class's count, not that the classes are not balanced."""
    out = tmp_path / "plate"
    result = run_cli("harvest", "--base-url", emulator.base_url, "--plate", "7375", "--out",
                     str(out), "--artifacts", "thumbnail", "--rate", "none", "-q", "--sample",
                     "2", "--sample-per", "Gene Symbol")  # fmt: skip
    assert result.returncode == 0, result.stderr
    with (out / "labels.csv").open(encoding="utf-8", newline="") as handle:
        counts = [row["images"] for row in csv.DictReader(handle)]
    assert counts == ["1"] * 8
    (line,) = [x for x in result.stderr.splitlines() if "--sample-per" in x]
    assert line.endswith(
        "all 8 classes have fewer than 2 images, so all of their images are taken ('AURKA': 1,"
        " 'BUB1B': 1, 'CDC20': 1 and 5 more); every class has 1 image, fewer than asked"
    ), line


def test_the_plans_printed_command_labels_by_the_key(
    emulator: EmulatorThread, demo_refs: dict[int, ImageRef], tmp_path: Path
) -> None:
    """`harvester plan --sample 2 --sample-per KEY`, then its printed `or: harvester harvest
    ...` run as printed: index.csv and labels.csv are labelled by the key, as without a plan."""
    out = tmp_path / "planned"
    plan = run_cli(
        "plan", "--base-url", emulator.base_url, "--screen", str(DEMO_SCREEN),
        "--out", str(out), "--sample", "2", "--sample-per", KEY,
    )  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    command = next(line for line in plan.stdout.splitlines() if line.startswith("  or: "))
    words = shlex.split(command.removeprefix("  or: ").partition("  #")[0])
    assert words[:2] == ["harvester", "harvest"]
    result = run_cli(*words[1:], "--rate", "none", "--artifacts", "thumbnail", "--quiet")
    assert result.returncode == 0, result.stderr
    assert labels_csv(out) == dict.fromkeys(classes(demo_refs), 2)  # 11 classes of 3+ images
    assert {row["label"] for row in index_rows(out)} == set(labels_csv(out))


def test_a_run_stopped_after_warning_of_short_classes_is_not_repeated_by_its_resume(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """Ctrl-C as soon as the short-classes warning is said, then `harvest --out DIR`: the
    warning is said once in all (the resume replays a run that said it), exit 130 then 0."""
    app = HeldRoute("image:thumbnail")  # (the sample's fetching stands still)
    emu = make_emulator(app=app)
    out = tmp_path / "balanced"
    proc = start_cli(
        "harvest", "--base-url", emu.base_url, "--screen", str(DEMO_SCREEN), "--out", str(out),
        "--rate", "none", "--artifacts", "thumbnail", "--quiet", "--sample", "5",
        "--sample-per", KEY,
    )  # fmt: skip
    with app.released_after(proc):
        assert proc.stderr is not None
        first = [proc.stderr.readline()]  # (ends at the warning, or at the run's end)
        while first[-1] and "not balanced" not in first[-1]:
            first.append(proc.stderr.readline())
        proc.send_signal(signal.SIGINT)
        _stdout, rest = proc.communicate(timeout=60)
    said = "".join(first) + rest
    assert proc.returncode == 130, said
    again = run_cli("harvest", "--out", str(out), "--rate", "none", "--quiet")
    assert again.returncode == 0, again.stderr
    assert (said + again.stderr).count("the classes are not balanced") == 1, said + again.stderr
    assert sum(labels_csv(out).values()) == 46
