"""``--label-ids-from FILE``: a second version of a training set keeps the first one's
label_ids (README "Collecting training data"), over the demo emulator and the command line.

v1 holds three genes (ECT2 0, PLK1 1, TPX2 2). v2 is another selection with two genes
sorting first (AURKA, PRC1 among ECT2 and PLK1, no TPX2): pinned to v1's labels.csv, its
old labels keep their ids, the new ones come after, and TPX2 stays reserved.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest
from selection_helpers import DEMO_SCREEN, index_rows, run_cli

import harvester
from harvester.emulator import EmulatorThread
from harvester.label_ids import assign_ids

V1 = ("ECT2", "PLK1", "TPX2")
V2 = ("AURKA", "ECT2", "PLK1", "PRC1")


def harvest_cli(emulator: EmulatorThread, out: Path, *args: str) -> tuple[int, str, str]:
    """``harvester harvest`` of the demo screen's thumbnails; (exit code, stdout, stderr)."""
    result = run_cli(
        "harvest", "--base-url", emulator.base_url, "--out", str(out), "--rate", "none",
        "--artifacts", "thumbnail", "--screen", str(DEMO_SCREEN), *args,
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def genes(*names: str) -> list[str]:
    """``--where "Gene Symbol=NAME"`` for each name, and the label key."""
    out = ["--label-key", "Gene Symbol"]
    for name in names:
        out += ["--where", f"Gene Symbol={name}"]
    return out


def labels_table(out: Path) -> list[list[str]]:
    with (out / "labels.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))[1:]


def ids_in_index(out: Path) -> dict[str, str]:
    """label -> label_id as index.csv's rows have them (one id per label, checked)."""
    seen: dict[str, set[str]] = {}
    for row in index_rows(out):
        seen.setdefault(row["label"], set()).add(row["label_id"])
    assert all(len(ids) == 1 for ids in seen.values()), seen
    return {label: ids.pop() for label, ids in seen.items()}


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("WARNING")]


@pytest.fixture
def v1(emulator: EmulatorThread, tmp_path: Path) -> Path:
    """The first version: ECT2, PLK1 and TPX2, labelled by gene (ids 0, 1, 2)."""
    out = tmp_path / "v1"
    code, _stdout, stderr = harvest_cli(emulator, out, "-q", *genes(*V1))
    assert code == 0, stderr
    assert labels_table(out) == [["ECT2", "0", "4"], ["PLK1", "1", "3"], ["TPX2", "2", "3"]]
    return out


def test_a_second_folder_keeps_the_first_ones_label_ids(
    emulator: EmulatorThread, tmp_path: Path, v1: Path
) -> None:
    """v2 pinned to v1/labels.csv: ECT2 0, PLK1 1, TPX2 2 reserved, AURKA 3, PRC1 4."""
    v2 = tmp_path / "v2"
    code, stdout, stderr = harvest_cli(
        emulator, v2, *genes(*V2), "--label-ids-from", str(v1 / "labels.csv")
    )
    assert code == 0, stderr
    assert labels_table(v2) == [
        ["ECT2", "0", "4"], ["PLK1", "1", "3"], ["TPX2", "2", "0"],
        ["AURKA", "3", "4"], ["PRC1", "4", "4"],
    ]  # fmt: skip
    assert ids_in_index(v2) == {"ECT2": "0", "PLK1": "1", "AURKA": "3", "PRC1": "4"}
    record = json.loads((v2 / "label_ids.json").read_text(encoding="utf-8"))
    assert record["label_ids"] == {"ECT2": 0, "PLK1": 1, "TPX2": 2}
    assert record["from"] == str((v1 / "labels.csv").absolute())
    (line,) = [line for line in stderr.splitlines() if line.startswith("label_ids pinned")]
    assert "2 labels on images here keep their label_id" in line
    assert "1 on no image keeps its id reserved" in line
    assert "2 new labels get the next ones ('AURKA': 3, 'PRC1': 4)" in line
    assert warnings(stderr) == []


def test_the_pin_line_of_one_label_kept_and_one_new(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """One pinned label on images, one new: the line reads in the singular ('1 label on
    images here keeps its label_id', '1 new label gets the next one'), as a person writes."""
    pins = tmp_path / "pins.csv"
    pins.write_text("label,label_id\nECT2,0\n", encoding="utf-8")
    code, _stdout, stderr = harvest_cli(
        emulator, tmp_path / "one", *genes("ECT2", "PLK1"), "--label-ids-from", str(pins)
    )
    assert code == 0, stderr
    (line,) = [line for line in stderr.splitlines() if line.startswith("label_ids pinned")]
    assert "1 label on images here keeps its label_id; " in line
    assert "1 new label gets the next one ('PLK1': 1)" in line


def test_the_pin_holds_for_a_grown_folder_a_resume_and_harvester_index(
    emulator: EmulatorThread, tmp_path: Path, v1: Path
) -> None:
    """Classes added later without the flag: pinned ids stay, new ones told in one line;
    a resume and ``harvester index DIR`` rewrite labels.csv byte for byte."""
    v2 = tmp_path / "v2"
    pin = ("--label-ids-from", str(v1 / "labels.csv"))
    assert harvest_cli(emulator, v2, "-q", *genes("ECT2", "PRC1"), *pin)[0] == 0
    code, _stdout, stderr = harvest_cli(
        emulator, v2, "-q", "--where", "Gene Symbol=AURKA", "--where", "Gene Symbol=BUB1B"
    )
    assert code == 0, stderr
    assert labels_table(v2) == [
        ["ECT2", "0", "4"], ["PLK1", "1", "0"], ["TPX2", "2", "0"],
        ["AURKA", "3", "4"], ["BUB1B", "4", "4"], ["PRC1", "5", "4"],
    ]  # fmt: skip
    (new,) = [line for line in warnings(stderr) if "new labels" in line]
    assert "2 new labels in" in new and "('AURKA': 3, 'BUB1B': 4)" in new
    (changed,) = [line for line in warnings(stderr) if "label_ids changed" in line]
    assert "'PRC1': was 3, now 5" in changed  # an unpinned label: ranks after the pin
    assert "ECT2" not in changed
    before = (v2 / "labels.csv").read_bytes()
    result = run_cli("harvest", "--out", str(v2), "-q")
    assert result.returncode == 0, result.stderr
    assert (v2 / "labels.csv").read_bytes() == before
    assert "label_id" not in result.stderr and "new label" not in result.stderr
    result = run_cli("index", str(v2))
    assert result.returncode == 0, result.stderr
    assert (v2 / "labels.csv").read_bytes() == before
    assert ids_in_index(v2) == {"ECT2": "0", "AURKA": "3", "BUB1B": "4", "PRC1": "5"}
    assert "label_ids" not in result.stderr


def test_no_label_ids_from_goes_back_to_ranks(
    emulator: EmulatorThread, tmp_path: Path, v1: Path
) -> None:
    """``harvester index DIR --no-label-ids-from`` drops the pin: ranks again, the pinned
    labels.csv kept as labels.before-..., and later writes stay ranks."""
    v2 = tmp_path / "v2"
    code, _stdout, stderr = harvest_cli(
        emulator, v2, "-q", *genes(*V2), "--label-ids-from", str(v1 / "labels.csv")
    )
    assert code == 0, stderr
    pinned = (v2 / "labels.csv").read_bytes()
    result = run_cli("index", str(v2), "--no-label-ids-from")
    assert result.returncode == 0, result.stderr
    assert f"dropped the pin of {v2 / 'label_ids.json'}" in result.stdout
    assert json.loads((v2 / "label_ids.json").read_text(encoding="utf-8"))["label_ids"] is None
    assert "label ids pinned" not in run_cli("status", str(v2)).stdout
    ranks = [["AURKA", "0", "4"], ["ECT2", "1", "4"], ["PLK1", "2", "3"], ["PRC1", "3", "4"]]
    assert labels_table(v2) == ranks
    assert ids_in_index(v2) == {label: n for label, n, _images in ranks}
    (kept,) = v2.glob("labels.before-*.csv")
    assert kept.read_bytes() == pinned
    (line,) = [line for line in warnings(result.stderr) if "label_ids changed" in line]
    assert line.endswith(f"kept as {kept}")
    assert run_cli("index", str(v2)).returncode == 0
    assert labels_table(v2) == ranks


def test_harvester_index_pins_a_folder_that_had_ranks(
    emulator: EmulatorThread, tmp_path: Path, v1: Path
) -> None:
    """``harvester index DIR --label-ids-from`` on a ranked folder: v1's ids, the ranked
    labels.csv kept as labels.before-..., the pin said on stdout; ECT2's move unwarned."""
    v2 = tmp_path / "v2"
    assert harvest_cli(emulator, v2, "-q", *genes(*V2))[0] == 0
    ranked = (v2 / "labels.csv").read_bytes()
    result = run_cli("index", str(v2), "--label-ids-from", str(v1 / "labels.csv"))
    assert result.returncode == 0, result.stderr
    assert [row[1] for row in labels_table(v2)] == ["0", "1", "2", "3", "4"]
    assert ids_in_index(v2) == {"ECT2": "0", "PLK1": "1", "AURKA": "3", "PRC1": "4"}
    (kept,) = v2.glob("labels.before-*.csv")
    assert kept.read_bytes() == ranked
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("label_ids pinned")]
    assert f"recorded in {v2 / 'label_ids.json'}" in line
    (changed,) = [line for line in warnings(result.stderr) if "label_ids changed" in line]
    assert "2 of its 2 unpinned labels" in changed and "ECT2" not in changed
    assert changed.endswith(f"kept as {kept}")


BAD_FILES = {
    "has no 'label_id' column": "label,images\nECT2,4\n",
    "line 3: label 'ECT2' is there twice": "label,label_id,images\nECT2,0,4\nECT2,1,3\n",
    "line 3: label_id 0 is also the id of 'ECT2'": "label,label_id,images\nECT2,0,4\nPLK1,0,3\n",
    "line 2: label_id 'one' of 'ECT2' is not an integer": "label,label_id\nECT2,one\n",
    "line 2: label_id '-1' of 'ECT2' is negative": "label,label_id\nECT2,-1\n",
    "lists no label": "label,label_id,images\n",
}


def test_bad_label_ids_files_are_refused_and_nothing_is_written(
    emulator: EmulatorThread, tmp_path: Path, v1: Path
) -> None:
    """A missing file or one that is not a labels.csv: exit 2, one error line and a hint,
    no new folder, and an existing folder's tables and pin untouched."""
    tables = {name: (v1 / name).read_bytes() for name in ("index.csv", "labels.csv")}
    cases = {**BAD_FILES, "no such file": None}
    for n, (what, text) in enumerate(cases.items()):
        bad = tmp_path / f"bad{n}.csv"
        if text is not None:
            bad.write_text(text, encoding="utf-8")
        new = tmp_path / f"new{n}"
        harvested = harvest_cli(emulator, new, "-q", *genes("ECT2"), "--label-ids-from", str(bad))
        index = run_cli("index", str(v1), "--label-ids-from", str(bad))
        for code, stderr in ((harvested[0], harvested[2]), (index.returncode, index.stderr)):
            assert code == 2, (what, stderr)
            assert stderr.splitlines() == [
                f"error: cannot pin label ids to {bad}: {what}",
                "hint: give a labels.csv written by harvester (columns label,label_id[,images]:"
                " each label and each label_id once, ids whole numbers from 0)",
            ]
        assert not new.exists()
        assert {name: (v1 / name).read_bytes() for name in tables} == tables
        assert not (v1 / "label_ids.json").exists()


def test_label_ids_from_without_a_label_key_is_refused(
    emulator: EmulatorThread, tmp_path: Path, v1: Path
) -> None:
    """No label key given or recorded: exit 2 with a --label-key hint, for harvest and index;
    --no-label-key beside it is refused too."""
    saved = tmp_path / "v1-labels.csv"  # (--no-label-key below removes v1/labels.csv)
    saved.write_bytes((v1 / "labels.csv").read_bytes())
    pin = ("--label-ids-from", str(saved))
    new = tmp_path / "plain"
    code, _stdout, stderr = harvest_cli(emulator, new, "-q", "--where", "Gene Symbol=ECT2", *pin)
    assert code == 2, stderr
    assert stderr.splitlines()[-1].startswith("hint: add --label-key KEY")
    assert not new.exists()
    result = run_cli("index", str(v1), "--no-label-key", *pin)
    assert result.returncode == 2, result.stderr
    assert "--no-label-key" in result.stderr.splitlines()[0]
    assert run_cli("index", str(v1), "--no-label-key").returncode == 0
    result = run_cli("index", str(v1), *pin)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"error: --label-ids-from {saved}: the index has no label column to pin (no label key "
        "given, none recorded in the folder)"
    )
    assert result.stderr.splitlines()[-1].startswith("hint: add --label-key KEY")
    assert not (v1 / "label_ids.json").exists()


def test_assign_ids_appends_new_labels_after_the_largest_pinned_id() -> None:
    """Pinned ids kept (gaps too), new labels sorted after the largest; no pin: ranks."""
    assert assign_ids(["b", "a", "z"], {"z": 0, "q": 7}) == {"z": 0, "q": 7, "a": 8, "b": 9}
    assert assign_ids(["b", "a"], None) == {"a": 0, "b": 1}


def test_shards_record_the_pin_for_the_index_job_and_status_names_it(
    emulator: EmulatorThread, tmp_path: Path, v1: Path
) -> None:
    """A shard given the flag records the pin, and says the index will say what it did:
    ``harvester index DIR`` (the SLURM index job) then keeps v1's ids, and ``harvester
    status`` names the pin (text and --json)."""
    v2 = tmp_path / "v2"
    pin = ("--label-ids-from", str(v1 / "labels.csv"))
    code, _stdout, stderr = harvest_cli(emulator, v2, "--shard", "0/2", *genes(*V2), *pin)
    assert code == 0, stderr
    said = (
        f"label_ids pinned to {(v1 / 'labels.csv').absolute()}, recorded in {v2 / 'label_ids.json'}"
    )
    assert [line for line in stderr.splitlines() if line.startswith(said)], stderr
    assert not (v2 / "labels.csv").exists()  # a shard writes no index
    assert harvest_cli(emulator, v2, "-q", "--shard", "1/2", *genes(*V2))[0] == 0
    result = run_cli("index", str(v2))
    assert result.returncode == 0, result.stderr
    assert ids_in_index(v2) == {"ECT2": "0", "PLK1": "1", "AURKA": "3", "PRC1": "4"}
    assert ["TPX2", "2", "0"] in labels_table(v2)
    status = run_cli("status", str(v2))
    assert (
        f"label ids pinned (label_ids.json): 3 labels from {(v1 / 'labels.csv').absolute()}"
        in status.stdout.splitlines()
    ), status.stdout
    data = json.loads(run_cli("status", str(v2), "--json").stdout)
    assert data["label_ids_pinned"] == {"from": str((v1 / "labels.csv").absolute()), "labels": 3}


def test_a_damaged_pin_is_a_warning_and_that_write_uses_ranks(
    emulator: EmulatorThread, tmp_path: Path, v1: Path
) -> None:
    """label_ids.json cut short: ``harvester index`` warns, exits 0 and writes ranks;
    ``--label-ids-from`` again writes a good record."""
    v2 = tmp_path / "v2"
    pin = ("--label-ids-from", str(v1 / "labels.csv"))
    assert harvest_cli(emulator, v2, "-q", *genes(*V2), *pin)[0] == 0
    (v2 / "label_ids.json").write_bytes(b'{"label_ids": {"ECT2')
    result = run_cli("index", str(v2))
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in warnings(result.stderr) if "label_ids.json" in line]
    assert "is damaged (not JSON, 20 bytes)" in line and "--label-ids-from FILE" in line
    assert [row[0] for row in labels_table(v2)] == ["AURKA", "ECT2", "PLK1", "PRC1"]
    assert [row[1] for row in labels_table(v2)] == ["0", "1", "2", "3"]
    assert "is damaged" in run_cli("status", str(v2)).stdout
    assert run_cli("index", str(v2), *pin).returncode == 0
    assert ids_in_index(v2) == {"ECT2": "0", "PLK1": "1", "AURKA": "3", "PRC1": "4"}


def run_array_task(script: Path, task: int, tasks: int, cwd: Path) -> None:
    """Task ``task`` of a job array script, as SLURM runs it (from ``cwd``), exit 0."""
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(harvester.__file__).absolute().parent.parent)
        + os.pathsep
        + os.environ.get("PYTHONPATH", ""),
        "SLURM_ARRAY_TASK_ID": str(task),
        "SLURM_ARRAY_TASK_COUNT": str(tasks),
    }
    proc = subprocess.run(
        ["bash", str(script)], env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_slurm_passes_the_pin_to_its_tasks_for_the_index_job(
    emulator: EmulatorThread, tmp_path: Path, v1: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``harvester slurm --label-ids-from v1/labels.csv`` (a relative path): every task,
    started from another folder, records the pin, and the index job keeps v1's ids and
    says what the pin did in one line, as a single harvest given the flag does."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "array"
    made = run_cli(
        "slurm", "--base-url", emulator.base_url, "--out", str(out), "--rate", "none",
        "--artifacts", "thumbnail", "--screen", str(DEMO_SCREEN), "--tasks", "2", "-q",
        *genes(*V2), "--label-ids-from", "v1/labels.csv",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for task in range(2):
        run_array_task(out / "harvest.sbatch", task, 2, elsewhere)
    result = run_cli("index", str(out))  # the index job's command
    assert result.returncode == 0, result.stderr
    assert ids_in_index(out) == {"ECT2": "0", "PLK1": "1", "AURKA": "3", "PRC1": "4"}
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("label_ids pinned")]
    assert line.startswith(
        f"label_ids pinned to {(v1 / 'labels.csv').absolute()}, recorded in "
        f"{out / 'label_ids.json'}: 2 labels on images here keep their label_id"
    ), line
    assert "2 new labels get the next ones ('AURKA': 3, 'PRC1': 4)" in line


@pytest.mark.parametrize("case", ["missing", "no-label-key"])
def test_slurm_refuses_a_pin_its_tasks_would_refuse(
    emulator: EmulatorThread, tmp_path: Path, v1: Path, case: str
) -> None:
    """A FILE that is not there, or no label key to pin: exit 2 with one error line and a
    hint, and no script written (not N tasks refused in the queue)."""
    out = tmp_path / "array"
    if case == "missing":
        flags = [*genes(*V2), "--label-ids-from", str(tmp_path / "nope.csv")]
    else:
        flags = ["--label-ids-from", str(v1 / "labels.csv")]
    made = run_cli(
        "slurm", "--base-url", emulator.base_url, "--out", str(out), "--rate", "none",
        "--artifacts", "thumbnail", "--screen", str(DEMO_SCREEN), "--tasks", "2", *flags,
    )  # fmt: skip
    assert made.returncode == 2, made.stderr
    lines = made.stderr.splitlines()
    assert lines[0].startswith("error: ") and "Traceback" not in made.stderr, made.stderr
    assert lines[-1].startswith("hint: "), made.stderr
    if case == "no-label-key":
        assert lines[-1].startswith("hint: add --label-key KEY"), made.stderr
    assert not (out / "harvest.sbatch").exists()


@pytest.mark.parametrize("label", ["a\nb", "a\r\nb", "a\rb", "a\u2028b", "a\x85b", "a;b|c"])
def test_a_labels_csv_with_line_breaks_in_a_label_pins_that_label(
    tmp_path: Path, label: str
) -> None:
    """A label holding a line break (quoted by harvester's labels.csv) keeps its id when read."""
    from harvester.index import render_csv
    from harvester.label_ids import read_labels_file

    path = tmp_path / "labels.csv"
    table = [[label, "0", "3"], ["z", "1", "2"]]
    path.write_bytes(render_csv(["label", "label_id", "images"], table))
    assert read_labels_file(path) == {label: 0, "z": 1}


def test_a_bad_row_after_a_two_line_label_is_named_by_its_line(tmp_path: Path) -> None:
    """The refusal names the line an editor shows: a label quoted over lines 2-3 puts the
    next row on line 4."""
    from harvester.errors import UsageError
    from harvester.label_ids import read_labels_file

    path = tmp_path / "labels.csv"
    path.write_bytes(b'label,label_id,images\n"a\nb",0,3\nz,x,2\n')
    with pytest.raises(UsageError, match=r"line 4: label_id 'x' of 'z' is not an integer"):
        read_labels_file(path)


def test_labels_of_a_hand_edited_pin_file_are_stripped(tmp_path: Path, v1: Path) -> None:
    """A pin file typed by hand with spaces around its labels and ids (``PLK1 , 5``) pins
    those labels with those ids; a label there twice once stripped is refused."""
    edited = tmp_path / "edited.csv"
    edited.write_text('label,label_id\nPLK1 , 5\n  ECT2,1 \n" TPX2 ",2\n', encoding="utf-8")
    result = run_cli("index", str(v1), "--label-ids-from", str(edited))
    assert result.returncode == 0, result.stderr
    assert ids_in_index(v1) == {"PLK1": "5", "ECT2": "1", "TPX2": "2"}
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("label_ids pinned")]
    assert "3 labels on images here keep their label_id" in line
    edited.write_text("label,label_id\nECT2,0\nECT2 ,1\n", encoding="utf-8")
    refused = run_cli("index", str(v1), "--label-ids-from", str(edited))
    assert refused.returncode == 2
    assert "line 3: label 'ECT2' is there twice" in refused.stderr


def test_a_label_id_of_minus_zero_pins_as_zero(tmp_path: Path, v1: Path) -> None:
    """``ECT2,-0`` pins ECT2 to 0, as ``ECT2,0`` does (it was refused as "negative"); beside
    another label's 0 it is that id twice, and ``-1`` is still negative."""
    pins = tmp_path / "pins.csv"
    pins.write_text("label,label_id\nECT2,-0\nPLK1,1\nTPX2,2\n", encoding="utf-8")
    result = run_cli("index", str(v1), "--label-ids-from", str(pins))
    assert result.returncode == 0, result.stderr
    assert "negative" not in result.stdout + result.stderr
    assert ids_in_index(v1) == {"ECT2": "0", "PLK1": "1", "TPX2": "2"}
    assert json.loads((v1 / "label_ids.json").read_text(encoding="utf-8"))["label_ids"] == {
        "ECT2": 0, "PLK1": 1, "TPX2": 2,
    }  # fmt: skip
    pins.write_text("label,label_id\nECT2,0\nPLK1,-0\n", encoding="utf-8")
    twice = run_cli("index", str(v1), "--label-ids-from", str(pins))
    assert twice.returncode == 2
    assert twice.stderr.splitlines()[0] == (
        f"error: cannot pin label ids to {pins}: line 3: label_id 0 is also the id of 'ECT2'"
    )
