"""``harvester status DIR``: what is done, failed and pending, and who wrote it.

Everything comes from the journals (every shard's, read with complete lines only, so it is safe
while shards still run) plus the saved config of the latest run (which artifact kinds were asked
for). No artifact file is stat-ed.

* done: artifacts journaled done and not invalidated by ``verify``, with their bytes;
* failed: the latest failure of something that is not done;
* pending: images the walk journaled whose selected kinds are neither done nor failed.

With a plan in ``DIR/plan`` (``harvester plan``), the plan's images count too, those no shard
has reached yet (not journaled) included, and the plan's artifacts are the selected kinds
until a run saves its own; ``plan`` sums up the planned work. The plan is streamed (its ids
only, never held), so a plan of millions of images costs one pass over ``images.jsonl``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harvester.errors import UsageError
from harvester.journal import (
    JournalState,
    journal_files,
    read_journal,
    saved_run_configs,
    writer_of,
)
from harvester.models import DEFAULT_ARTIFACTS
from harvester.store import check_existing_out_dir

if TYPE_CHECKING:
    from harvester.plan import PlanInfo

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
class PlanStatus:
    """The planned work (``DIR/plan``): images, and their planned artifacts' states.

    ``reached``: planned images some run has journaled; ``complete``: those with every
    planned artifact done; ``done``/``failed``/``pending`` count (artifact, image) pairs
    of the plan, so ``pending`` includes every artifact of the images not reached yet.
    """

    images: int
    artifacts: list[str]
    reached: int = 0
    complete: int = 0
    done: int = 0
    failed: int = 0
    pending: int = 0


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
    plan: PlanStatus | None = None
    plan_error: str | None = None  # DIR/plan exists but cannot be read: the journals still count

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
        """JSON-ready form (what ``status --json`` prints); ``plan`` only with a plan."""
        data: dict[str, Any] = {
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
        if self.plan is not None:
            data["plan"] = asdict(self.plan)
        if self.plan_error is not None:
            data["plan_error"] = self.plan_error
        return data

    def to_text(self) -> str:
        """Alias of :meth:`format_text` (the CLI looks for ``to_text``)."""
        return self.format_text()

    def format_text(self) -> str:
        """Human-readable table (what ``status`` prints)."""
        lines = [f"{self.out_dir}: {self.images} images known, artifacts {','.join(self.selected)}"]
        if self.plan is not None:
            p = self.plan
            lines.append(
                f"plan: {p.images} images ({','.join(p.artifacts)}): {p.complete} complete, "
                f"{p.reached} reached, {p.images - p.reached} not reached yet; "
                f"artifacts {p.done} done, {p.failed} failed, {p.pending} pending"
            )
        if self.plan_error is not None:
            lines.append(
                f"plan: cannot be read ({self.plan_error}); counts below are the journals'"
            )
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


def selected_kinds(
    out_dir: Path, state: JournalState, planned: list[str] | None = None
) -> list[str]:
    """Artifact kinds asked for by the newest run that saved them, else ``planned`` (a
    plan's, before any run harvested it), else the defaults.

    "Newest" as :func:`harvester.journal.runs_newest_last` orders runs (by start time).
    """
    for config in saved_run_configs(out_dir, state):
        artifacts = config.get("artifacts")
        if isinstance(artifacts, str):
            artifacts = [a.strip() for a in artifacts.split(",") if a.strip()]
        if isinstance(artifacts, list) and artifacts:
            return [str(a) for a in artifacts]
    if planned:
        return list(planned)
    return [a.value for a in DEFAULT_ARTIFACTS]


def _plan_info(out_dir: Path) -> PlanInfo | None:
    """The plan of DIR (``DIR/plan/plan.json``), or None when DIR holds none."""
    from harvester.plan import META_FILE, PLAN_DIRNAME, read_plan_info

    if not (out_dir / PLAN_DIRNAME / META_FILE).is_file():
        return None
    return read_plan_info(out_dir)


def _count_plan(
    out_dir: Path, info: PlanInfo, state: JournalState, selected: list[str]
) -> tuple[PlanStatus, dict[str, int]]:
    """One pass over the plan's ids: its :class:`PlanStatus`, and per selected kind the
    artifacts pending for the planned images no run has journaled (the journaled ones are
    counted with the journals)."""
    from harvester.plan import iter_plan_ids

    planned = list(info.artifacts)
    plan = PlanStatus(images=info.images, artifacts=planned)
    unreached = dict.fromkeys(selected, 0)
    done, failed, images = state.done, state.failed, state.images
    for image_id in iter_plan_ids(out_dir):
        reached = image_id in images
        plan.reached += reached
        finished = 0
        for kind in planned:
            key = (kind, image_id)
            if key in done:
                finished += 1
            elif key in failed:
                plan.failed += 1
            else:
                plan.pending += 1
        plan.done += finished
        plan.complete += finished == len(planned)
        if not reached:
            for kind in selected:
                key = (kind, image_id)
                if key not in done and key not in failed:
                    unreached[kind] += 1
    return plan, unreached


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
    # A plan that cannot be read (damaged, a newer format) must not hide the harvest itself:
    # status reads the journals as it did before it counted plans, and says what is wrong.
    plan_error: str | None = None
    try:
        info = _plan_info(out_dir)
    except UsageError as exc:
        info, plan_error = None, str(exc)
    planned = list(info.artifacts) if info is not None else None
    report = StatusReport(out_dir=str(out_dir), selected=selected_kinds(out_dir, state, planned))
    report.images = len(state.images)
    report.invalid = len(state.invalid)
    report.plan_error = plan_error
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
    unreached: dict[str, int] = {}
    if info is not None:
        try:
            report.plan, unreached = _count_plan(out_dir, info, state, report.selected)
        except UsageError as exc:  # found as images.jsonl is read (its line count, last)
            report.plan_error = str(exc)
    for kind in report.selected:
        ks = report.kinds.setdefault(kind, KindStatus())
        ks.pending = unreached.get(kind, 0) + sum(
            1
            for image_id in state.images
            if (kind, image_id) not in state.done and (kind, image_id) not in state.failed
        )
    report.writers = sorted(writers.values(), key=lambda w: (w.started or 0.0, w.writer))
    return report
