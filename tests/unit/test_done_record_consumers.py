"""Review of DoneRecord (bb7eb2c): everything that reads done records answers as with dicts.

The journal state used to hold each done record as the dict parsed from its journal line; it
now holds a read-only :class:`~harvester.journal.DoneRecord`. These tests take a folder written
by a real harvest against the emulator (screen and plate records with several ``files``), add
the kinds of records older or hand-edited journals hold (keys missing, an upper-case digest,
a failure of another writer), and check what users see: the status, verify and index outputs
are byte-identical to those computed with plain dict records, each record reads back as the
exact journal line it came from, and its digest is the file's hexdigest string.
"""

from __future__ import annotations

import copy
import hashlib
import json
import pickle
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest

from harvester import journal
from harvester.config import HarvestConfig
from harvester.emulator import EmulatorThread
from harvester.index import build_rows
from harvester.journal import DoneRecord, JournalState
from harvester.models import Artifact
from harvester.pipeline import run_harvest
from harvester.retry import zero_waits
from harvester.select import write_labelled_index
from harvester.status import collect_status
from harvester.verify import verify

DEMO_SCREEN = 2302


@pytest.fixture(scope="module")
def harvested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean harvest of the demo screen (every artifact but stacks), done once."""
    out = tmp_path_factory.mktemp("harvest") / "out"
    with EmulatorThread(preset="demo") as emu:
        cfg = HarvestConfig(
            base_url=emu.base_url,
            out=out,
            rate=None,
            quiet=True,
            screens=(DEMO_SCREEN,),
            artifacts=tuple(Artifact(a) for a in ("thumbnail", "metadata", "render", "imgdata")),
        )
        with zero_waits():
            summary = anyio.run(lambda: run_harvest(cfg))
    assert summary.failed == 0 and summary.done > 0
    return out


def journal_lines(out: Path) -> list[str]:
    return [
        line
        for path in sorted((out / "journals").glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


def done_lines(out: Path) -> dict[tuple[str, int], str]:
    """The latest journal line of each done artifact (a clean single run: the only one)."""
    found: dict[tuple[str, int], str] = {}
    for line in journal_lines(out):
        rec = json.loads(line)
        if rec.get("rec") == "done":
            found[(rec["kind"], rec["id"])] = line
    return found


def test_each_record_reads_back_as_its_journal_line_byte_for_byte(harvested: Path) -> None:
    """Each done record reads back as its journal line, byte for byte and in key order."""
    lines = done_lines(harvested)
    state = JournalState.load(harvested, remember=False)
    assert set(state.done) == set(lines)
    assert any('"files":' in line for line in lines.values())  # study records with files
    for key, line in lines.items():
        rec = state.done[key]
        assert isinstance(rec, DoneRecord)
        assert json.dumps(dict(rec), separators=(",", ":")) == line
        assert list(rec) == list(json.loads(line))


def test_every_digest_is_the_files_hexdigest_string(harvested: Path) -> None:
    """Every done record's digest, and its files', is the file's sha256 hexdigest string."""
    state = JournalState.load(harvested, remember=False)
    checked = 0
    for rec in state.done.values():
        for entry in [rec, *rec.get("files", ())]:
            digest = hashlib.sha256((harvested / entry["path"]).read_bytes()).hexdigest()
            assert type(entry["sha256"]) is str and entry["sha256"] == digest
            assert entry.get("sha256") == digest
            checked += 1
    assert checked > len(state.done)


def test_records_copy_pickle_and_compare_like_the_dicts(harvested: Path) -> None:
    """Done records copy, deepcopy, pickle and compare like the dicts of their lines; unhashable."""
    state = JournalState.load(harvested, remember=False)
    lines = done_lines(harvested)
    assert len(lines) == len(state.done) > 0
    for line in lines.values():
        parsed = json.loads(line)
        rec = state.done[(parsed["kind"], parsed["id"])]
        for twin in (copy.copy(rec), copy.deepcopy(rec), pickle.loads(pickle.dumps(rec))):
            assert type(twin) is DoneRecord
            assert twin == rec == parsed and list(twin) == list(parsed)
        assert {**rec} == parsed and rec != {**parsed, "size": -1}
        with pytest.raises(TypeError):
            hash(rec)


def outputs(out: Path) -> dict[str, Any]:
    """What users see of DIR: status and verify (JSON and text), index rows and files."""
    status = collect_status(out)
    report = verify(out, jobs=2, mark_invalid=False)
    found: dict[str, Any] = {
        "status_json": json.dumps(status.to_dict(), indent=2),
        "status_text": status.to_text(),
        "verify_json": json.dumps(report.to_dict(), indent=2),
        "verify_text": report.to_text(),
        "rows": build_rows(JournalState.load(out, remember=False)),
    }
    write_labelled_index(out, ("Gene Symbol",))
    found["index_csv"] = (out / "index.csv").read_bytes()
    found["labels_csv"] = (out / "labels.csv").read_bytes()
    return found


def test_status_verify_and_index_are_identical_to_dict_records(
    harvested: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """status, verify and index say the same with compact records as with plain dict records."""
    out = tmp_path / "out"
    shutil.copytree(harvested, out)
    lines = [json.loads(line) for line in done_lines(out).values()]
    thumbs = sorted((r for r in lines if r["kind"] == "thumbnail"), key=lambda r: r["id"])
    (out / thumbs[0]["path"]).write_bytes(b"damaged")  # size and digest differ
    upper = {**thumbs[1], "sha256": thumbs[1]["sha256"].upper(), "t": thumbs[1]["t"] + 10}
    bare = {"rec": "done", "kind": "thumbnail", "id": thumbs[2]["id"], "t": thumbs[2]["t"] + 10}
    bare["path"] = thumbs[2]["path"]  # an old record: no size, digest or run
    failed = {"rec": "failed", "kind": "render", "id": thumbs[3]["id"], "status": 500}
    failed.update(reason="HTTP 500", url="u", t=thumbs[3]["t"] + 10, run="r-old")
    older = out / "journals" / "old-writer.jsonl"
    older.write_text(
        "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in (upper, bare, failed)),
        encoding="utf-8",
    )

    compact = outputs(out)
    monkeypatch.setattr(journal, "_memo", None)

    def as_dict(cls: type[DoneRecord], rec: Mapping[str, Any], shared: Any = None) -> Any:
        return {key: rec[key] for key in rec}

    monkeypatch.setattr(DoneRecord, "from_json", classmethod(as_dict))
    plain: Any = JournalState.load(out, remember=False).done[("thumbnail", thumbs[0]["id"])]
    assert type(plain) is dict  # the reference really holds dicts
    as_dicts = outputs(out)
    assert compact == as_dicts
    assert '"damaged": 2' in compact["verify_json"]  # the bad file and the upper-case digest
    assert "old-writer" in compact["status_text"]


def test_a_line_in_another_order_reads_back_in_the_stores_order() -> None:
    """Documented, not hidden: equal to the line, keys in the order the store writes them."""
    line = {"t": 1.0, "files": [], "id": 7, "rec": "done", "kind": "stack", "_writer": "w1"}
    rec = DoneRecord.from_json(line)
    assert rec == line
    assert list(rec) == ["rec", "kind", "id", "t", "files", "_writer"]
