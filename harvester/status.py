"""``harvester status DIR``: what is done, failed and pending, and who wrote it.

Everything comes from the journals (every shard's, read with complete lines only, so it is safe
while shards still run) plus the saved config of the latest run (which artifact kinds were asked
for). No artifact file is stat-ed.

* done: artifacts journaled done and not invalidated by ``verify``, with their bytes;
* failed: the latest failure of something that is not done;
* pending: images the walk journaled whose selected kinds are neither done nor failed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harvester.journal import (
    JournalState,
    journal_files,
    read_journal,
    saved_run_configs,
    writer_of,
)
from harvester.models import DEFAULT_ARTIFACTS
from harvester.store import check_existing_out_dir

logger = logging.getLogger(__name__)

MAX_FAILURE_SAMPLES = 20
_SHARD_IN_WRITER = re.compile(r"-shard-(\d+)-of-(\d+)$")


@dataclass
class KindStatus:
    """Counts for one artifact or study kind."""

    done: int = 0
    failed: int = 0
    pending: int = 0
    bytes: int = 0


@dataclass
class WriterStatus:
    """What one process (one journal) contributed to the current state."""

    writer: str
    run: str | None = None
    shard: str | None = None
    started: float | None = None
    done: int = 0
    failed: int = 0
    bytes: int = 0


@dataclass
class StatusReport:
    """The result of :func:`collect_status`; ``to_dict`` is the ``--json`` form."""

    out_dir: str
    selected: list[str]
    images: int = 0
    kinds: dict[str, KindStatus] = field(default_factory=dict)
    writers: list[WriterStatus] = field(default_factory=list)
    runs: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    invalid: int = 0

    @property
    def done(self) -> int:
        return sum(k.done for k in self.kinds.values())

    @property
    def failed(self) -> int:
        return sum(k.failed for k in self.kinds.values())

    @property
    def pending(self) -> int:
        return sum(k.pending for k in self.kinds.values())

    @property
    def bytes(self) -> int:
        return sum(k.bytes for k in self.kinds.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``status --json`` prints)."""
        return {
            "out_dir": self.out_dir,
            "selected": self.selected,
            "images": self.images,
            "totals": {
                "done": self.done,
                "failed": self.failed,
                "pending": self.pending,
                "bytes": self.bytes,
                "invalid": self.invalid,
            },
            "kinds": {name: asdict(k) for name, k in sorted(self.kinds.items())},
            "writers": [asdict(w) for w in self.writers],
            "runs": self.runs,
            "failures": self.failures,
        }

    def to_text(self) -> str:
        """Alias of :meth:`format_text` (the CLI looks for ``to_text``)."""
        return self.format_text()

    def format_text(self) -> str:
        """Human-readable table (what ``status`` prints)."""
        lines = [f"{self.out_dir}: {self.images} images known, artifacts {','.join(self.selected)}"]
        lines.append(f"{'kind':<12}{'done':>10}{'failed':>10}{'pending':>10}{'bytes':>16}")
        for name, k in sorted(self.kinds.items()):
            lines.append(f"{name:<12}{k.done:>10}{k.failed:>10}{k.pending:>10}{k.bytes:>16,}")
        lines.append(
            f"{'total':<12}{self.done:>10}{self.failed:>10}{self.pending:>10}{self.bytes:>16,}"
        )
        if self.invalid:
            lines.append(f"{self.invalid} file(s) marked invalid by verify (refetched by harvest)")
        if self.writers:
            lines.append("writers:")
            for w in self.writers:
                shard = f" shard {w.shard}" if w.shard else ""
                lines.append(
                    f"  {w.writer} (run {w.run}{shard}): {w.done} done, {w.failed} failed, "
                    f"{w.bytes:,} bytes"
                )
        if self.failures:
            lines.append(f"failures (first {len(self.failures)}):")
            for f in self.failures:
                lines.append(
                    f"  {f['kind']} {f['id']}: {f.get('status')} {f.get('reason')} {f.get('url')}"
                )
        return "\n".join(lines)


def selected_kinds(out_dir: Path, state: JournalState) -> list[str]:
    """Artifact kinds asked for by the newest run that saved them, else the defaults.

    "Newest" as :func:`harvester.journal.runs_newest_last` orders runs (by start time).
    """
    for config in saved_run_configs(out_dir, state):
        artifacts = config.get("artifacts")
        if isinstance(artifacts, str):
            artifacts = [a.strip() for a in artifacts.split(",") if a.strip()]
        if isinstance(artifacts, list) and artifacts:
            return [str(a) for a in artifacts]
    return [a.value for a in DEFAULT_ARTIFACTS]


def _load_tagged(out_dir: Path) -> JournalState:
    """Fold every journal, tagging each record with the writer (journal) it came from."""

    def records() -> Any:
        for path in journal_files(out_dir):
            writer = writer_of(path)
            for rec in read_journal(path):
                rec["_writer"] = writer
                yield rec

    return JournalState.from_records(records())


def collect_status(out_dir: Path) -> StatusReport:
    """Aggregate every journal of DIR (all shards and runs) into a :class:`StatusReport`."""
    out_dir = Path(out_dir)
    check_existing_out_dir(out_dir)
    state = _load_tagged(out_dir)
    report = StatusReport(out_dir=str(out_dir), selected=selected_kinds(out_dir, state))
    report.images = len(state.images)
    report.invalid = len(state.invalid)
    writers: dict[str, WriterStatus] = {}
    for run in state.runs:
        name = str(run.get("_writer") or run.get("writer"))
        shard = run.get("shard")
        if shard is None and (m := _SHARD_IN_WRITER.search(name)):
            shard = f"{m.group(1)}/{m.group(2)}"
        writers[name] = WriterStatus(name, run.get("run"), shard, run.get("started"))

    def writer(rec: Mapping[str, Any]) -> WriterStatus:
        name = str(rec.get("_writer"))
        if name not in writers:
            writers[name] = WriterStatus(name, rec.get("run"))
        return writers[name]

    for (kind, _), done_rec in state.done.items():
        size = int(done_rec.get("size") or 0) + sum(
            int(f.get("size") or 0) for f in done_rec.get("files", ())
        )
        ks = report.kinds.setdefault(kind, KindStatus())
        ks.done += 1
        ks.bytes += size
        w = writer(done_rec)
        w.done += 1
        w.bytes += size
        run = report.runs.setdefault(str(done_rec.get("run")), {"done": 0, "failed": 0, "bytes": 0})
        run["done"] += 1
        run["bytes"] += size
    for (kind, object_id), rec in sorted(state.failed.items(), key=lambda kv: kv[1]["t"]):
        report.kinds.setdefault(kind, KindStatus()).failed += 1
        writer(rec).failed += 1
        run = report.runs.setdefault(str(rec.get("run")), {"done": 0, "failed": 0, "bytes": 0})
        run["failed"] += 1
        if len(report.failures) < MAX_FAILURE_SAMPLES:
            report.failures.append(
                {
                    "kind": kind,
                    "id": object_id,
                    "status": rec.get("status"),
                    "reason": rec.get("reason"),
                    "url": rec.get("url"),
                }
            )
    for kind in report.selected:
        ks = report.kinds.setdefault(kind, KindStatus())
        ks.pending = sum(
            1
            for image_id in state.images
            if (kind, image_id) not in state.done and (kind, image_id) not in state.failed
        )
    report.writers = sorted(writers.values(), key=lambda w: (w.started or 0.0, w.writer))
    return report
