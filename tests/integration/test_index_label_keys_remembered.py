"""``harvester index --label-key`` is remembered: later index writes keep the labels.

A training-data user rebuilt a folder's index with labels (``harvester index DIR
--label-key "Gene Symbol"``); the next ``harvester index DIR``, the index job of a SLURM
array, or a harvest of DIR wrote a plain index and removed ``labels.csv``, with only a
warning. The keys given to ``harvester index`` are now recorded in ``DIR/label_keys.json``
and every later index write given no keys uses the keys given last. (The end of a harvest:
``test_index_label_keys_harvest_end.py``.)

Everything runs the real command line against the emulator over loopback sockets.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harvest_helpers import SMALL_PLATE, cli_env, temp_files
from label_keys_helpers import (
    DAMAGES,
    GENE,
    cli,
    damage_record,
    damaged_warning,
    harvest,
    index,
    labels,
    plate,
    problem_lines,
    rows,
)

from harvester.emulator import EmulatorThread
from harvester.folder_settings import carry_label_keys, remember_label_keys

__all__ = ["plate"]  # the fixture, used by name
#: A run id, as harvester.layout.new_run_id makes them.
RUN = "20261127T120000Z-0a1b2c"


def test_index_with_keys_says_it_records_them(plate: Path) -> None:
    """The command says where the keys went and how long they hold."""
    result = index(plate, "--label-key", GENE)
    assert result.stdout.splitlines() == [
        f"wrote {plate / 'index.csv'} (8 images) and {plate / 'labels.csv'} (8 labels)",
        f"label keys {GENE!r} recorded in {plate / 'label_keys.json'}: later index writes "
        "keep them until another --label-key or --no-label-key",
    ]
    assert result.stderr == ""


def test_index_without_keys_keeps_them(plate: Path) -> None:
    """``harvester index DIR`` (the SLURM index job's command too) uses the recorded keys:
    the same index.csv and labels.csv, byte for byte, and no warning."""
    index_before = (plate / "index.csv").read_bytes()
    table = (plate / "labels.csv").read_bytes()
    result = index(plate)
    assert result.stderr == ""
    assert result.stdout.strip() == (
        f"wrote {plate / 'index.csv'} (8 images) and {plate / 'labels.csv'} (8 labels)"
    )
    assert (plate / "labels.csv").read_bytes() == table
    assert (plate / "index.csv").read_bytes() == index_before


def test_shards_and_the_index_job_keep_them(emulator: EmulatorThread, plate: Path) -> None:
    """A job array's tasks (``--shard K/N``, no keys, more artifacts) and then its index
    job (``harvester index DIR``) keep the keys given to ``harvester index`` before."""
    before = labels(plate)
    for shard in ("0/2", "1/2"):
        harvest(emulator, plate, "--shard", shard, "--artifacts", "thumbnail,metadata")
    index(plate)
    assert labels(plate) == before
    assert all(row["metadata_path"] for row in rows(plate))  # the tasks' work is in it


def test_later_keys_replace_them(emulator: EmulatorThread, plate: Path) -> None:
    """The keys given last win: another ``harvester index --label-key``, and then a harvest
    given ``--label-key`` (its saved config is newer than the record), each replace the keys
    for every later ``harvester index``."""
    genes = labels(plate)
    index(plate, "--label-key", "Phenotype")
    phenotypes = labels(plate)
    assert phenotypes != genes
    index(plate)
    assert labels(plate) == phenotypes
    record = json.loads((plate / "label_keys.json").read_text(encoding="utf-8"))
    assert record["label_keys"] == ["Phenotype"]

    harvest(emulator, plate, "--label-key", GENE, "--label-key", "Phenotype")
    both = labels(plate)
    assert all(cell.count("|") == 1 for cell in both.values() if cell)
    index(plate)
    assert labels(plate) == both


def test_no_label_key_drops_them(plate: Path) -> None:
    """``--no-label-key`` (not ``--no-labels``, which is about fetching annotations) removes
    labels.csv and the label columns, says so once, and later index writes stay plain
    without a word; ``--label-key`` brings them back."""
    result = index(plate, "--no-label-key")
    assert result.stdout.splitlines() == [
        f"wrote {plate / 'index.csv'} (8 images)",
        f"removed {plate / 'labels.csv'}; no label keys recorded in "
        f"{plate / 'label_keys.json'}: later index writes have no label columns until "
        "--label-key KEY",
    ]
    assert result.stderr == ""  # not the "removed labels.csv ... add --label-key" warning
    assert not (plate / "labels.csv").exists()
    assert "label" not in rows(plate)[0]
    assert rows(plate)[0][GENE]  # the annotation columns stay: only the labels went
    again = index(plate)
    assert again.stderr == ""
    assert not (plate / "labels.csv").exists() and "label" not in rows(plate)[0]
    index(plate, "--label-key", GENE)
    assert (plate / "labels.csv").is_file() and any(labels(plate).values())


@pytest.mark.parametrize(
    "flags",
    [["--label-key", ""], ["--label-key", " "], ["--label-key", GENE, "--no-label-key"]],
)
def test_an_empty_key_is_refused_not_a_way_to_drop(plate: Path, flags: list[str]) -> None:
    """``--label-key "$KEY"`` with KEY unset must not drop the labels: exit 2, an error line
    and a hint naming ``--no-label-key``; both flags at once are refused too. Nothing in
    DIR changes."""
    files = {p: p.read_bytes() for p in plate.iterdir() if p.is_file()}
    result = cli("index", str(plate), *flags)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    if "--no-label-key" in flags:
        assert lines[0].startswith("error: argument --no-label-key: not allowed with")
    else:
        assert lines == [
            "error: --label-key: an annotation key cannot be empty",
            f"hint: to drop the label columns: harvester index {plate} --no-label-key",
        ]
    assert {p: p.read_bytes() for p in plate.iterdir() if p.is_file()} == files


@pytest.mark.parametrize(("damage", "why"), DAMAGES)
def test_a_damaged_record_is_one_warning_line(plate: Path, damage: bytes | None, why: str) -> None:
    """A damaged label_keys.json: ``harvester index`` still writes index.csv (exit 0) with
    one warning naming the file and how to record the keys again, no traceback, taking the
    keys of the newest run that set any (here none: a plain index). ``--label-key`` writes
    a good record in its place, the damaged file kept beside with one warning; a folder in
    its place is one error line."""
    record = plate / "label_keys.json"
    damage_record(record, damage)
    result = index(plate)
    damaged_warning(problem_lines(result.stderr), record, plate, why)
    assert "Traceback" not in result.stderr
    assert "label" not in rows(plate)[0]
    if damage is None:
        before = (plate / "index.csv").read_bytes()
        refused = cli("index", str(plate), "--label-key", GENE)
        assert refused.returncode == 2 and refused.stdout == ""
        assert refused.stderr.splitlines()[0] == (
            f"error: cannot record the label keys: {record} is a folder"
        )
        assert (plate / "index.csv").read_bytes() == before  # refused before any write
        record.rmdir()
    fixed = index(plate, "--label-key", GENE)
    kept = list(plate.glob("label_keys.edited-*.json"))
    if damage is None:  # (the folder is gone: nothing to keep)
        assert problem_lines(fixed.stderr) == [] and kept == []
    else:
        assert [p.read_bytes() for p in kept] == [damage]
        (line,) = problem_lines(fixed.stderr)
        assert line.endswith(
            f"{record} is not a record harvester can read (damaged, or a file of your own): "
            f"kept it as {kept[0]}; harvester keeps its own label_keys.json there (keep your "
            "own files under other names)"
        )
    assert any(labels(plate).values())
    assert index(plate).stderr == ""
    assert any(labels(plate).values())


def test_the_record_holds_nothing_secret(emulator: EmulatorThread, tmp_path: Path) -> None:
    """label_keys.json holds the keys, when, by what command and the runs it came after
    (their ids): no server URL, header or cookie of the harvest (it sits in a folder people
    share); no temp file is left."""
    out = tmp_path / "secret"
    config = tmp_path / "private.toml"
    config.write_text(
        f'base_url = "{emulator.base_url}"\nheaders = {{ Authorization = "Bearer s3cr3t" }}\n'
        'cookies = { sessionid = "c00kie" }\n',
        encoding="utf-8",
    )
    result = cli(
        "harvest", str(config), "--plate", str(SMALL_PLATE), "--artifacts", "thumbnail",
        "--rate", "none", "--out", str(out), "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    index(out, "--label-key", GENE, "--label-key", "Phenotype")
    text = (out / "label_keys.json").read_text(encoding="utf-8")
    record = json.loads(text)
    assert set(record) == {"label_keys", "at", "at_utc", "by", "runs"}
    assert record["runs"] == sorted(p.name for p in (out / "runs").iterdir())
    assert record["label_keys"] == [GENE, "Phenotype"] and record["by"] == "harvester index"
    for secret in ("s3cr3t", "c00kie", emulator.base_url, "127.0.0.1"):
        assert secret not in text
    assert temp_files(out) == []


def test_two_index_commands_at_once_leave_one_whole_record(plate: Path) -> None:
    """Processes sharing DIR (an index job, a user's ``harvester index``) writing the record
    at once: each exits 0, the record is one of theirs, whole (temp file and rename), no
    temp file is left, and the next index follows it."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "harvester", "index", str(plate), "--label-key", key],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )
        for key in (GENE, "Phenotype", GENE, "Phenotype")
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    record = json.loads((plate / "label_keys.json").read_text(encoding="utf-8"))
    assert record["label_keys"] in ([GENE], ["Phenotype"])
    assert temp_files(plate) == []
    index(plate)
    remembered = labels(plate)
    index(plate, "--label-key", *record["label_keys"])
    assert labels(plate) == remembered


def test_a_harvest_carries_its_keys_over_a_record_of_others(tmp_path: Path) -> None:
    """What a rerun given ``--label-key`` that recorded nothing does before its saved
    config goes (see the pipeline): a record of other keys made before it started takes
    its keys; no record, or one of the same keys, is left as it is (an hourly rerun
    rewrites nothing). Before: the record did not see the run (no ``runs/RUN``), even
    with the run's clock behind the record's."""
    record = tmp_path / "label_keys.json"
    carry = {"by": "harvester harvest", "run": RUN, "order": time.time() - 3600}
    assert carry_label_keys(tmp_path, ["Phenotype"], **carry) is False
    assert not record.exists()
    remember_label_keys(tmp_path, [GENE], by="harvester index")
    (tmp_path / "runs" / RUN).mkdir(parents=True)  # the rerun starts: its config saved
    assert carry_label_keys(tmp_path, ["Phenotype"], **carry)
    written = record.read_bytes()
    assert json.loads(written)["label_keys"] == ["Phenotype"]
    assert json.loads(written)["by"] == "harvester harvest"
    assert not carry_label_keys(tmp_path, ["Phenotype"], **carry)
    assert record.read_bytes() == written
    record.write_bytes(b"junk")
    assert carry_label_keys(tmp_path, ["Phenotype"], **carry)
    assert json.loads(record.read_bytes())["label_keys"] == ["Phenotype"]


def test_a_harvest_keeps_keys_recorded_while_it_ran(tmp_path: Path) -> None:
    """``harvester index --label-key`` given while a rerun with other keys went on was
    given last: the rerun's end (its config removed) leaves that record as it is, even
    where the rerun's node clock ran an hour ahead of the record's."""
    (tmp_path / "runs" / RUN).mkdir(parents=True)  # the rerun began: its config saved
    remember_label_keys(tmp_path, [GENE], by="harvester index")
    record = (tmp_path / "label_keys.json").read_bytes()
    order = time.time() + 3600
    assert not carry_label_keys(
        tmp_path, ["Phenotype"], by="harvester harvest", run=RUN, order=order
    )
    assert (tmp_path / "label_keys.json").read_bytes() == record
    assert json.loads(record)["label_keys"] == [GENE]


def _shift_record(out: Path, seconds: float) -> None:
    """Move ``label_keys.json``'s time by ``seconds``: written on a host whose clock is off
    from the compute nodes' (a login node's, for ``harvester index``)."""
    path = out / "label_keys.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    record["at"] += seconds
    path.write_text(json.dumps(record), encoding="utf-8")


def test_the_keys_given_last_win_whatever_the_clocks(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """A run and ``harvester index --label-key`` on hosts whose clocks disagree by an hour:
    the keys given last still win, both ways. The record given after a run wins over the
    run's keys where the record's clock ran behind; a run started after the record wins
    where the record's clock ran ahead."""
    out = tmp_path / "clocks"
    harvest(emulator, out, "--label-key", "Phenotype", "--quiet")
    by_phenotype = labels(out)
    index(out, "--label-key", GENE)
    by_gene = labels(out)
    assert by_gene != by_phenotype
    _shift_record(out, -3600)
    index(out)
    assert labels(out) == by_gene
    _shift_record(out, +7200)  # an hour ahead of now
    harvest(emulator, out, "--label-key", "Phenotype", "--artifacts", "thumbnail,metadata")
    index(out)
    assert labels(out) == by_phenotype


def _drop_runs(out: Path) -> None:
    """Make ``label_keys.json`` a record of 0.1.16 or before: it kept no runs, only ``at``."""
    path = out / "label_keys.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    del record["runs"]
    path.write_text(json.dumps(record), encoding="utf-8")


def test_a_run_after_an_old_record_from_a_host_ahead_wins(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """A record of an older version (no runs kept) written on a host an hour ahead: a
    harvest given other keys here after it still wins, as its run is ordered after the
    record (before, its start by this host's clock was taken for earlier)."""
    out = tmp_path / "old"
    harvest(emulator, out, "--label-key", "Phenotype", "--quiet")
    by_phenotype = labels(out)
    index(out, "--label-key", GENE)
    by_gene = labels(out)
    assert by_gene != by_phenotype
    _drop_runs(out)
    _shift_record(out, +3600)
    index(out)
    assert labels(out) == by_gene  # the record is still the keys given last
    harvest(emulator, out, "--label-key", "Phenotype", "--artifacts", "thumbnail,metadata")
    index(out)
    assert labels(out) == by_phenotype
