"""A run's selection settings, checked, and the per-image filter they make.

``--where`` terms are parsed into :class:`Condition` values and matched against an
image's labels (:func:`matches`); ``--sample``, ``--sample-fraction``, ``--sample-per``
and ``--seed`` are checked here (:func:`check_sample` ...), and :class:`Selection` holds
them for a run, with its per-image filter (:meth:`Selection.admits`); :class:`SelectStats`
counts what the selection stage let through, for the run summary.

Why a module of its own: every harvest builds its configuration and its
:class:`Selection`, but only a run given ``--where`` or a sample needs the stage that
draws the sample, the censuses of keys and values and the labelled index
(:mod:`harvester.select`, some 3,000 lines): a plain harvest loads this small module
before its first request and that one later, where it is used. See
:mod:`harvester.select` for how the filters combine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from harvester.errors import ConfigError
from harvester.models import ImageRef
from harvester.shell_words import shell_quote
from harvester.text import agree, plural, quoted, shown

if TYPE_CHECKING:
    from harvester.select import SampleEdge

Op = Literal["=", "!=", "~"]
Labels = Sequence[tuple[str, str]]

#: The settings that decide which images a run selects (as :class:`HarvestConfig` names
#: them): two runs that saved the same values select the same images of the same walk.
SELECTION_KEYS = ("where", "sample", "sample_fraction", "sample_per", "seed")
_HASH_SPACE = 1 << 64


# --------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class Condition:
    """One ``--where`` term: ``key`` ``op`` ``value`` (key compared case-insensitively)."""

    key: str
    op: Op
    value: str

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.value}"


def parse_condition(text: object) -> Condition:
    """``"Gene Symbol=CDK1"`` -> Condition; a one-line ConfigError for anything else."""
    if not isinstance(text, str):
        raise ConfigError(f"where: expected a string like 'KEY=VALUE', got {text!r}")
    cut = min((i for i in (text.find("="), text.find("~")) if i >= 0), default=-1)
    if cut < 0:
        raise ConfigError(
            f"where: {quoted(text)} is not KEY=VALUE, KEY!=VALUE or KEY~TEXT",
            hint="e.g. --where 'Gene Symbol=CDK1'",
            file_hint="e.g. where = ['Gene Symbol=CDK1']",
        )
    if text[cut] == "~" and cut > 0 and text[cut - 1] == "!":
        raise ConfigError(
            f"where: {quoted(text)}: '!~' (does not contain) is not supported",
            hint="exclude exact values with KEY!=VALUE (repeatable)",
        )
    op: Op = "~" if text[cut] == "~" else "="
    key_end = cut
    if op == "=" and cut > 0 and text[cut - 1] == "!":
        op, key_end = "!=", cut - 1
    key, value = text[:key_end].strip(), text[cut + 1 :].strip()
    if not key:
        # `--where '=ECT2'` (or a key in an unset shell variable): show the whole form with
        # the user's own operator and value, a key in front.
        example = f"Gene Symbol{op}{value or 'ECT2'}"
        raise ConfigError(
            f"where: {quoted(text)} has no key before {op!r}",
            hint=f"put the annotation key first, e.g. --where {shell_quote(example)}",
            file_hint=f"put the annotation key first, e.g. where = [{example!r}]",
        )
    if not value:
        # `--where "Gene Symbol=$GENE"` with GENE unset: the same whole-form hint as above.
        example = f"{key}{op}VALUE"
        raise ConfigError(
            f"where: {quoted(text)} has no value after {op!r}",
            hint=f"put the value after {op!r}, e.g. --where {shell_quote(example)} (an empty "
            "value: a shell variable that is not set?)",
            file_hint=f"put the value after {op!r}, e.g. where = [{example!r}]",
        )
    return Condition(key, op, value)


def term_can_name(key: str) -> bool:
    """Can a ``--where`` term name annotation key ``key``? Not one holding ``=`` or ``~``
    (:func:`parse_condition` cuts the term at the first), nor one ending in ``!`` (read as
    ``!=``), nor a blank one: a term suggested on such a key would compare another key."""
    key = key.strip()
    return bool(key) and "=" not in key and "~" not in key and not key.endswith("!")


def parse_where(value: object) -> tuple[Condition, ...]:
    """A string or a list of strings -> conditions (config key ``where``)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ConfigError(f"where: expected a list of 'KEY=VALUE' strings, got {value!r}")
    return tuple(c if isinstance(c, Condition) else parse_condition(c) for c in items)


def parse_label_keys(value: object) -> tuple[str, ...]:
    """A string or a list of non-empty strings (config key ``label_keys``)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(k, str) for k in items):
        raise ConfigError(f"label_keys: expected a list of annotation keys, got {value!r}")
    keys = tuple(k.strip() for k in items)
    if any(not k for k in keys):
        raise ConfigError("label_keys: an annotation key cannot be empty")
    return distinct_keys(keys)


def distinct_keys(keys: Iterable[str]) -> tuple[str, ...]:
    """``keys`` without repeats, compared as the labels compare keys (case-insensitively);
    the first spelling is kept.

    Why: ``--label-key 'Gene Symbol' --label-key 'gene symbol'`` (or a config file's
    ``label_keys``, or the keys an earlier version recorded, naming it twice) named one key
    twice, and every label read ``ECT2|ECT2``: a class name no one asked for, and a label
    format that differed from the folder's other runs. (Flags replace a file's keys: they
    are not joined.)
    """
    seen: dict[str, str] = {}
    for key in keys:
        seen.setdefault(fold_key(key), key)
    return tuple(seen.values())


#: What a percentage given for a share is told, on the command line and in a file alike.
PERCENT_RANGE = "a percentage must be more than 0% and at most 100%, given as a fraction"
_SHARE_HINT = (
    "a share of the images: --sample-fraction 0.1 keeps about 10%; a number of them: --sample N"
)
_SHARE_FILE_HINT = (
    "a share of the images: sample_fraction = 0.1 keeps about 10%; a number of them: sample = N"
)


def percent_share(text: str) -> float | None:
    """``10%`` as the fraction it means (0.1); None for anything else."""
    text = text.strip()
    if not text.endswith("%"):
        return None
    try:
        return float(text[:-1]) / 100
    except ValueError:
        return None


def check_sample(value: object) -> int | None:
    """``sample``: None or an integer >= 1; a share (``"10%"``, ``0.5``) is
    ``sample_fraction``'s, and said so, as ``--sample`` says it."""
    if value is None:
        return None
    share = percent_share(value) if isinstance(value, str) else None
    if isinstance(value, float) and 0 < value < 1:
        share = value
    if share is not None and 0 < share <= 1:
        raise ConfigError(
            f"sample: {value!r} is a share of the images, not a number of them",
            hint=f"use --sample-fraction {share:g}",
            file_hint=f"use sample_fraction = {share:g}",
        )
    if share is not None:
        raise ConfigError(
            f"sample: {value!r} is not a number of images, nor a share of them: {PERCENT_RANGE}",
            hint=_SHARE_HINT,
            file_hint=_SHARE_FILE_HINT,
        )
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"sample: {value!r} must be an integer of at least 1",
            hint="--sample N keeps N images; a share of them: --sample-fraction 0.1",
            file_hint="sample = N keeps N images; a share of them: sample_fraction = 0.1",
        )
    return value


def check_fraction(value: object) -> float | None:
    """``sample_fraction``: None or a number in (0, 1]; a percentage in a file's text
    (``"10%"``, ``"150%"``) is told what ``--sample-fraction`` tells it.

    Why: a file's ``"150%"`` and ``1.5`` were told "must be a number in (0, 1]", where the
    flag said what a share of the images is; ``"10%"`` the same, naming no fix."""
    if value is None:
        return None
    if isinstance(value, str):
        _refuse_fraction_text(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        # `--sample-fraction 10` meaning 10%, or 10 images: both ways out, said.
        raise ConfigError(
            f"sample_fraction: {value!r} is not a share of the images: a fraction must be more"
            f" than 0 and at most 1{_underflow(value)}",
            hint=_SHARE_HINT,
            file_hint=_SHARE_FILE_HINT,
        )
    return float(value)


def _refuse_fraction_text(value: str) -> None:
    """The refusal of a ``sample_fraction`` written as text: a percentage, told its
    fraction or its range; a number in quotes, told the line without them."""
    share = percent_share(value)
    if share is not None and 0 < share <= 1:
        raise ConfigError(
            f"sample_fraction: {value!r} is a percentage: give it as a fraction",
            hint=f"--sample-fraction {share:g}",
            file_hint=f"write sample_fraction = {share:g}",
        )
    if share is not None:
        raise ConfigError(
            f"sample_fraction: {value!r} is not a share of the images: {PERCENT_RANGE}",
            hint=_SHARE_HINT,
            file_hint=_SHARE_FILE_HINT,
        )
    try:
        number = float(value)
    except ValueError:
        number = None
    quoted_number = number is not None and 0 < number <= 1
    raise ConfigError(
        f"sample_fraction: expected a number, got the text {value!r}",
        hint=_SHARE_HINT,
        file_hint=f"write sample_fraction = {value.strip()} without quotes"
        if quoted_number
        else _SHARE_FILE_HINT,
    )


def check_sample_per(value: object) -> str | None:
    """``sample_per``: None or a non-empty annotation key or context column (stripped, as
    keys compare; :func:`~harvester.select.class_of`).

    Why refuse an empty key: ``--sample-per "$KEY"`` with ``KEY`` unset would make every
    image classless, and the run would fetch nothing with exit 0.
    """
    if value is None:
        return None
    if isinstance(value, list | tuple) and all(isinstance(key, str) for key in value):
        # (`sample_per = ["Gene Symbol", "Phenotype"]` read as classes of both keys)
        raise ConfigError(
            f"sample_per: expected one annotation key, got {value!r}: a sample is balanced"
            " over the classes of one key",
            hint="give one, e.g. --sample-per 'Gene Symbol' (--label-key may name both keys"
            " for the labels)",
            file_hint='give one, e.g. sample_per = "Gene Symbol" (label_keys may name both'
            " keys for the labels)",
        )
    if not isinstance(value, str):
        raise ConfigError(f"sample_per: expected an annotation key, got {value!r}")
    if not value.strip():
        raise ConfigError(
            "sample_per: the annotation key cannot be empty",
            hint="e.g. --sample 50 --sample-per 'Gene Symbol' (50 images of each gene)",
            file_hint='e.g. sample = 50 and sample_per = "Gene Symbol"',
        )
    return value.strip()


def check_seed(value: object) -> int:
    """``seed``: a whole number of :data:`SEED_RANGE`, negative too (it
    is hashed as its decimal text: ``-1`` is a seed of its own, not "random")."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"seed: {value!r} must be an integer")
    return check_seed_range("seed", value)


# --------------------------------------------------------------------------- matching
def fold_key(text: str) -> str:
    """A label's key (or value) as the selection compares it: stripped, case-blind."""
    return text.strip().casefold()


def fold_spaces(text: str) -> str:
    """A value as :class:`~harvester.select.ValueCensus` compares it for a ``did you mean``:
    case and runs of spaces ignored (``Mitotic  arrest`` names ``mitotic arrest``), which
    :func:`fold_key` keeps."""
    return " ".join(text.split()).casefold()


def matches(labels: Labels, where: Sequence[Condition]) -> bool:
    """Whether an image with ``labels`` satisfies every condition (see the module doc)."""
    if not where:
        return True
    values: dict[str, list[str]] = {}
    for key, value in labels:
        values.setdefault(fold_key(key), []).append(value.strip())
    by_key: dict[str, list[Condition]] = {}
    for cond in where:
        by_key.setdefault(fold_key(cond.key), []).append(cond)
    for key, conds in by_key.items():
        have = values.get(key, [])
        positive = [c for c in conds if c.op != "!="]
        if positive and not any(holds(c, v) for c in positive for v in have):
            return False
        if any(v == c.value for c in conds if c.op == "!=" for v in have):
            return False
    return True


def holds(cond: Condition, value: str) -> bool:
    """Whether one label ``value`` of ``cond``'s key satisfies ``cond``'s ``=`` or ``~``."""
    if cond.op == "~":
        return cond.value.casefold() in value.casefold()
    return value == cond.value


def describe_where(where: Sequence[Condition]) -> str:
    """The conditions as :func:`matches` combines them: ``(A=x or A=y) and B!=z``.

    Why: joining every term with "and" (as the summary did) told a user who gave two
    values of one key that an image needed both, when either is enough.
    """
    groups: dict[str, list[Condition]] = {}
    for cond in where:
        groups.setdefault(fold_key(cond.key), []).append(cond)
    parts: list[str] = []
    for conds in groups.values():
        positive = [str(c) for c in conds if c.op != "!="]
        if len(positive) > 1:
            parts.append("(" + " or ".join(positive) + ")")
        else:
            parts += positive
        parts += [str(c) for c in conds if c.op == "!="]
    return " and ".join(parts)


# --------------------------------------------------------------------------- context columns
#: The context columns of index.csv (ids, names, well position, field, run), which a
#: ``where`` key may name as well as an annotation key: ``--where field=0`` keeps the first
#: field of every well. Why: the fields of a well are near-duplicates, and a user who wanted
#: one per well, or one well of a plate, had no way to say so (labels are annotations only).
CONTEXT_KEYS: tuple[str, ...] = tuple(
    name for name in ImageRef.__dataclass_fields__ if name != "labels"
)
_CONTEXT_SET = frozenset(CONTEXT_KEYS)  # (asked per label of each image)
#: The prefix naming an annotation key that equals a context column (as index.csv does).
LABEL_PREFIX = "label:"


def names_context(key: str) -> bool:
    """Whether a ``where`` key names a context column (``field``, ``Plate_ID``...)."""
    return fold_key(key) in _CONTEXT_SET


#: The one context column an image given by id (``--image``, ``--ids-from``) has when it
#: is selected: no walk placed it, and its name, well or dataset come with its imgData,
#: after the selection.
KNOWN_BY_ID = ("image_id",)


def unknown_by_id(where: Sequence[Condition]) -> list[str]:
    """The keys of ``where`` (as given, each once) on context columns that an image given
    by id has no value in when it is selected (:data:`KNOWN_BY_ID`)."""
    return list(
        dict.fromkeys(
            c.key.strip()
            for c in where
            if names_context(c.key) and fold_key(c.key) not in KNOWN_BY_ID
        )
    )


def per_column(key: str) -> str | None:
    """The context column a ``sample_per`` key names (``well_id``, ``Field``), or None (an
    annotation key). Why: ``--sample-per well_id --sample 1`` (one field per well, the fields
    of a well being near-duplicates) warned that no image has the key, as ``--where`` did."""
    folded = fold_key(key)
    return folded if folded in _CONTEXT_SET else None


def per_by_id_column(per: str | None) -> str:
    """The ``sample_per`` key ``per`` (stripped), where it names a context column that an
    image given by id has no value in when it is selected (:data:`KNOWN_BY_ID`); else "".
    The one test of it: a run of such images alone is refused for it
    (:class:`harvester.config.HarvestConfig`), and beside a walk they are counted."""
    column = per_column(per) if per else None
    return per.strip() if per and column is not None and column not in KNOWN_BY_ID else ""


def per_annotation(key: str) -> str | None:
    """The annotation key a ``sample_per`` key names (None: a context column): the key as
    given, or KEY of ``label:KEY`` where KEY is a column's name (as in ``where``)."""
    if per_column(key) is not None:
        return None
    stripped = key.strip()
    rest = stripped[len(LABEL_PREFIX) :].strip()
    if fold_key(stripped).startswith(LABEL_PREFIX) and fold_key(rest) in _CONTEXT_SET:
        return rest
    return stripped


def sample_per_token(key: str) -> str:
    """What a ``sample_per`` key samples per, as a sample's key records it: the folded
    annotation key (``label:field`` is the annotation ``field``), or ``column:NAME``, so
    that no record of a per-annotation sample is read for a per-column one of that name."""
    column = per_column(key)
    return f"column:{column}" if column is not None else fold_key(per_annotation(key) or key)


def names_annotations(where: Sequence[Condition]) -> bool:
    """Whether any term of ``where`` is on an annotation key (so that labels are needed)."""
    return any(not names_context(c.key) for c in where)


def context_view(where: Sequence[Condition]) -> Callable[[ImageRef], Labels] | None:
    """What ``where`` compares for an image, when it names context columns (else None:
    the image's labels alone, the fast path).

    The view is the image's labels, an annotation key that equals a context column renamed
    ``label:KEY`` (its column in index.csv), then the named columns' values as index.csv
    shows them (whole numbers in decimal, 0-based well row, column and field); an empty
    cell (a project image's field, a plate's name for a dataset image) is no pair at all,
    so ``=`` and ``~`` do not hold and ``!=`` does.
    """
    folded = {fold_key(c.key) for c in where}
    columns = tuple(k for k in CONTEXT_KEYS if k in folded)
    renamed = any(k.removeprefix(LABEL_PREFIX) in CONTEXT_KEYS for k in folded)
    if not columns and not renamed:
        return None

    def view(ref: ImageRef) -> Labels:
        labels = tuple(
            (LABEL_PREFIX + k.strip() if fold_key(k) in _CONTEXT_SET else k, v)
            for k, v in ref.labels
        )
        cells = ((k, getattr(ref, k)) for k in columns)
        return labels + tuple((k, str(v)) for k, v in cells if v is not None and v != "")

    return view


def image_hash(seed: int, image_id: int) -> int:
    """A stable 64-bit hash of (seed, image id): the same on every machine and run."""
    digest = hashlib.blake2b(f"{seed}:{image_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def in_fraction(seed: int, image_id: int, fraction: float) -> bool:
    """``hash / 2**64 < fraction`` (fraction 1 keeps everything)."""
    return fraction >= 1 or image_hash(seed, image_id) < fraction * _HASH_SPACE


def _underflow(value: object) -> str:
    """`` (too small to tell from 0)`` for a value typed as a non-zero number that reads as 0.

    Why: ``--sample-fraction 1e-400`` is in (0, 1] as typed, and a refusal saying it must be
    in (0, 1] alone read as a contradiction. (The CLI's value shows as typed: its ``repr``.)
    """
    digits = repr(value).lower().split("e")[0]
    if value == 0 and any(digit in "123456789" for digit in digits):
        return " (too small to tell from 0)"
    return ""


# --------------------------------------------------------------------------- selection
@dataclass(frozen=True)
class Selection:
    """The selection settings of one run; ``active`` is False when nothing is filtered."""

    where: tuple[Condition, ...] = ()
    sample: int | None = None
    fraction: float | None = None
    seed: int = 0
    shard: tuple[int, int] | None = None
    #: ``sample`` images of each class of this annotation key (None: of all images).
    sample_per: str | None = None

    def __post_init__(self) -> None:
        # (once per run: admits() runs once per walked image)
        object.__setattr__(self, "_view", context_view(self.where))

    def where_labels(self, ref: ImageRef) -> Labels:
        """What ``where`` compares for ``ref``: its labels, with the context columns the
        terms name (:func:`context_view`)."""
        view: Callable[[ImageRef], Labels] | None = self.__dict__["_view"]
        return ref.labels if view is None else view(ref)

    @classmethod
    def from_config(cls, cfg: Any) -> Selection:
        """From a HarvestConfig (where, sample, sample_fraction, seed, shard, sample_per)."""
        return cls(
            where=tuple(cfg.where),
            sample=cfg.sample,
            fraction=cfg.sample_fraction,
            seed=cfg.seed,
            shard=cfg.shard_spec,
            sample_per=cfg.sample_per,
        )

    @property
    def active(self) -> bool:
        return bool(self.where) or self.sample is not None or self.fraction is not None

    def admits(self, ref: ImageRef) -> bool:
        """The per-image filters (where, fraction): streaming, no state."""
        if self.where and not matches(self.where_labels(ref), self.where):
            return False
        return self.fraction is None or in_fraction(self.seed, ref.image_id, self.fraction)

    def in_shard(self, image_id: int) -> bool:
        if self.shard is None:
            return True
        from harvester.shard import in_shard

        return in_shard(image_id, *self.shard)

    def labels_needed(self, edge: SampleEdge | None = None) -> Callable[[int], bool] | None:
        """Which walked images this run may fetch, so that their labels matter (None: all).

        Without ``where`` the labels do not decide the selection, so an image outside
        the shard, the fraction or (with ``edge``, a complete earlier sample's) the
        sample's edge needs none. With ``where`` or ``sample_per`` every image's labels
        decide: None.
        """
        if self.where or self.sample_per or not self.active:
            return None
        seed, fraction, shard = self.seed, self.fraction, self.shard
        use_edge = edge if self.sample is not None else None

        def needed(image_id: int) -> bool:
            if shard is not None and not self.in_shard(image_id):
                return False
            if fraction is not None and not in_fraction(seed, image_id, fraction):
                return False
            return use_edge is None or use_edge.covers(seed, image_id)

        return needed

    def describe(self) -> str:
        """One line for the run summary, e.g. ``where Phenotype~mitotic, sample 10 (seed 0)``."""
        parts = []
        if self.where:
            parts.append("where " + describe_where(self.where))
        if self.fraction is not None:
            parts.append(f"fraction {self.fraction:g}")
        if self.sample is not None:
            per = f" per {self.sample_per}" if self.sample_per else ""
            parts.append(f"sample {self.sample}{per}")
        if self.sample is not None or self.fraction is not None:
            parts.append(f"seed {self.seed}")
        return ", ".join(parts)


@dataclass
class SelectStats:
    """What the selection stage saw and let through (for the run summary)."""

    walked: int = 0
    matched: int = 0
    selected: int = 0
    out_of_shard: int = 0
    withheld: int = 0
    description: str = ""
    #: A per-class sample's key, its classes and the matching images without the key.
    per_key: str = ""
    classes: int = 0
    unclassed: int = 0
    #: A sample waits for the end of the walk: True while the walk runs, so a run stopped
    #: before it ended does not say "selected 0 of 64 walked images" of a sample never drawn.
    sampling: bool = False
    #: Matching images recorded as gone from the server before the sample was first drawn:
    #: left out of the draw (the next-ranked take their places). See ``run_stage``.
    gone_left_out: int = 0
    #: Sampled images (this shard's) recorded as gone after the sample was first drawn:
    #: they keep their places, so a resume fetches the sample it journaled, not another.
    gone_kept: int = 0
    #: How many walked images had a row in index.csv and were not selected by this run
    #: (None: the stage was not told the rows): the rows :meth:`index_note` is about.
    passed_over: int | None = None
    #: Walked images journaled with labels the ``--where`` terms admitted, whose labels
    #: the server changed so that they no longer match: journaled with the labels the
    #: server gives, as unlisted (``run_stage``'s ``relabel``): no row in index.csv.
    no_longer_match: int = 0
    #: Their ids, where the caller asks for them (a set, not None): a resume of several
    #: target sets counts only those no later set of it listed again
    #: (:class:`~harvester.select.LeftIndex`). Kept there alone: a study whose phenotype a
    #: curator renamed unlists every image of it, and a million ids are some 60 MB.
    unlisted_ids: set[int] | None = None
    #: The selection's warnings of this run (a ``--where`` term that matches nothing,
    #: ``--sample N`` more than there is, classes spelt otherwise), whether said now or by an
    #: earlier run; None: the walk did not end (or, for a sample, none was drawn: its lines
    #: are left out). Their digests go into the walk's record (``sample_said``), for the
    #: next run to compare.
    warning_lines: tuple[str, ...] | None = None

    def summary(self, failed: str = "") -> str:
        """The summary's selection line. ``failed``: why a run that stopped during its walk
        stopped, when it was not interrupted (the server stayed down, the session ended):
        such a walk said "the walk was interrupted", as if someone had pressed Ctrl-C."""
        walked = plural(self.walked, "walked image")
        if self.sampling:
            what = f"{walked} ({shown(self.description, None)})"
            how = (
                f"failed after {what}: {failed};"
                if failed
                else f"was interrupted after {what}, and"
            )
            return (
                f"nothing selected yet: the walk {how} a sample is drawn only when the walk has"
                " ended"
            )
        text = f"selected {self.selected} of {walked} ({shown(self.description, None)})"
        if self.per_key:
            text += f"; {plural(self.classes, 'class', 'classes')} of {quoted(self.per_key)}"
            if self.unclassed:
                text += f", {plural(self.unclassed, 'image')} without it not sampled"
        if self.gone_left_out:
            text += (
                f"; {plural(self.gone_left_out, 'image')} recorded as gone from the server left out"
            )
        if self.gone_kept:
            text += (
                f"; {plural(self.gone_kept, 'sampled image')} recorded as gone from the server"
                f" after the sample was drawn {agree(self.gone_kept, 'keeps its', 'keep their')}"
                f" {agree(self.gone_kept, 'place', 'places')} (a new --sample or --seed draws"
                " without them)"
            )
        if self.out_of_shard:
            belong = agree(self.out_of_shard, "belongs to another shard", "belong to other shards")
            text += f"; {plural(self.out_of_shard, 'selected image')} {belong}"
        if self.withheld:
            text += (
                f"; sample of {self.withheld} NOT fetched: the walk was incomplete, and a sample"
                " of part of the walk is not the sample (rerun when the listings answer)"
            )
        return text

    def no_longer_match_note(self, where: Sequence[Condition], *, deferred: bool = False) -> str:
        """A line when images of index.csv no longer match ``where`` (their labels changed
        on the server: ``--refresh-labels`` asked them again), else "". ``deferred``: this
        run wrote no index.csv (a shard's: ``harvester index`` writes it once), so the rows
        leave it at that write, not already (a shard's line said they had left it).

        Why: such an image is not selected, so no worker journals it, and its row kept the
        labels that had matched, listed as one of the selection: a training set whose
        labels said what the server no longer says, with nothing said. Its record now
        holds the labels asked, and its row left index.csv (labels.csv no longer counts
        it); its files stay, and a run that selects it again lists it again."""
        return no_longer_match_line(self.no_longer_match, where, deferred=deferred)

    def index_note(self, index_rows: int | None) -> str:
        """A line when index.csv lists more images than this (unsharded) run selected.

        Why: index.csv lists every image of DIR, so a smaller ``--sample`` than last time or
        a second ``--where`` into the same DIR leave rows this selection did not pick, and
        the run said only
        ``selected 5 of 72`` beside ``index: ... (10 rows)``. Empty when the rows fit (or the
        sample was withheld: then nothing of this run is in the index to compare with).

        Only rows of images this run walked count (:attr:`passed_over`, where the stage was
        told the rows): a second study added to a folder on purpose (``--project 51`` into a
        folder of a screen's sample) has rows this run never walked, and each such run was
        told its index lists "N more", a false alarm. Where some rows are other targets', the
        line counts this run's alone and says the others are not counted.
        """
        if index_rows is None or self.withheld or index_rows <= self.selected:
            return ""
        extra = index_rows - self.selected
        # (not "images whose annotations no longer match": a run of the terms that selected
        # such an image takes its row out once it asks its labels again, and until then it
        # matches as journaled, so it is selected, never one of these rows)
        why = (
            "earlier selections, such as a larger --sample or other --where terms; an image"
            " whose labels changed so that it no longer matches the terms that selected it"
            " leaves it once their run asks its labels again, --refresh-labels"
        )
        if self.passed_over is not None and self.passed_over != extra:
            if not self.passed_over:
                return ""  # (every other row is of targets this run did not walk)
            extra = self.passed_over
            head = (
                f"index.csv lists {plural(index_rows, 'image')}, {extra} of them walked by this"
                " run but not selected"
            )
            why += "; the images of other targets, which this run did not walk, are not counted"
        else:
            head = (
                f"index.csv lists {plural(index_rows, 'image')}, {extra} more than this run"
                " selected"
            )
        return (
            f"{head}: it lists every image harvested into this folder ({why}); harvest each"
            " training set into a folder of its own (one run per class of a balanced set wants"
            " this union)"
        )


def no_longer_match_line(n: int, where: Sequence[Condition], *, deferred: bool = False) -> str:
    """:meth:`SelectStats.no_longer_match_note` of ``n`` images ("" for none)."""
    if not n:
        return ""
    terms = " ".join(f"--where {shell_quote(str(cond))}" for cond in where)
    left = (
        f"{agree(n, 'leaves', 'leave')} index.csv when it is written (harvester index)"
        if deferred
        else "left index.csv"
    )
    return (
        f"{plural(n, 'image')} no longer {agree(n, 'matches', 'match')} {terms} (labels"
        f" changed on the server): {agree(n, 'its row', 'their rows')} {left},"
        f" {agree(n, 'its files', 'their files')} kept"
    )


# --------------------------------------------------------------------------- seeds
#: The seeds of a sample (``--seed``) and of a split (``--split-seed``): the whole numbers a
#: config file can hold (TOML's integers are 64-bit), so a seed given as a flag can always
#: be written as ``seed = S``. Negative ones are seeds like any other: a seed is hashed as
#: its decimal text (``blake2b("-1:<id>")``), no random generator takes it, and ``-1``
#: means no "random seed" (every sample and split is reproducible).
SEED_RANGE = (-(1 << 63), (1 << 63) - 1)


def check_seed_range(key: str, value: int) -> int:
    """``value``, a seed of ``key`` (``seed``, ``split_seed``), when it is in
    :data:`SEED_RANGE`; else a one-line :class:`ConfigError` naming the range.

    Why: any Python integer was taken, a 40-digit one too, which no config file can hold
    (a folder's settings copied into one failed to load) and which a note repeated whole.
    """
    low, high = SEED_RANGE
    if low <= value <= high:
        return value
    text = str(value)
    shown = text if len(text) <= 40 else f"{text[:20]}... ({len(text)} digits)"
    flag = "--" + key.replace("_", "-")
    raise ConfigError(
        f"{key}: {shown} is out of range: a seed is a whole number from {low} to {high}",
        hint=f"any seed in that range, negative too, picks its own reproducible draw: "
        f"e.g. {flag} 7",
        key=key,
        file_hint=f"e.g. {key} = 7",
    )
