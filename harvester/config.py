"""The resolved settings of one harvest run, loaded once and validated once.

A :class:`HarvestConfig` is a frozen value: the CLI builds it from a TOML file
(``tomllib``) overlaid with command-line flags, and every other module only
reads it. Validation happens on construction so that a bad value is a
:class:`~harvester.errors.ConfigError` with a one-line message before any
request is sent. Unknown keys name the nearest valid key (``difflib``), because
a typo'd key silently ignored is the worst kind of configuration bug.

Secrets (``headers``, ``cookies``) live here but never leave it: :meth:`HarvestConfig.to_public`
is what gets saved in ``DIR/runs/<run-id>/config.json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harvester.client import DEFAULT_BURST as DEFAULT_BURST
from harvester.client import DEFAULT_CONCURRENCY as DEFAULT_CONCURRENCY
from harvester.client import DEFAULT_MIN_SPEED as DEFAULT_MIN_SPEED
from harvester.client import DEFAULT_RATE as DEFAULT_RATE
from harvester.client import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from harvester.errors import ConfigError, UsageError
from harvester.models import DEFAULT_ARTIFACTS, Artifact
from harvester.retry import DEFAULT_MAX_RETRIES as DEFAULT_MAX_RETRIES
from harvester.select import (
    Condition,
    check_fraction,
    check_sample,
    check_seed,
    parse_label_keys,
    parse_where,
)
from harvester.shard import parse_shard as shard_spec
from harvester.urls import DEFAULT_THUMBNAIL_SIZE as DEFAULT_THUMBNAIL_SIZE
from harvester.window import DEFAULT_WINDOW as DEFAULT_WINDOW
from harvester.window import WINDOW_MODES as WINDOWS

DEFAULT_BASE_URL = "https://idr.openmicroscopy.org"
DEFAULT_RENDER_FORMAT = "jpeg"
DEFAULT_RENDER_QUALITY = 0.9
DEFAULT_QUEUE_SIZE = 1000
DEFAULT_WALK_CONCURRENCY = 4
DEFAULT_GIVE_UP_AFTER = 20

RENDER_FORMATS = ("jpeg", "png")
#: Values that never reach disk, logs or error messages.
SECRET_KEYS = ("headers", "cookies")
REDACTED = "<redacted>"


def _as_int_list(key: str, value: object) -> tuple[int, ...]:
    """Ids as a tuple of positive ints; a single int or numeric string is accepted."""
    items = value if isinstance(value, list | tuple) else [value]
    out: list[int] = []
    for item in items:
        if isinstance(item, bool):
            raise ConfigError(f"{key}: {item!r} is not an id")
        if isinstance(item, int):
            number = item
        elif isinstance(item, str) and item.strip().isdigit():
            number = int(item.strip())
        else:
            raise ConfigError(
                f"{key}: {item!r} is not a numeric id", hint="ids are positive integers, e.g. 2302"
            )
        if number <= 0:
            raise ConfigError(f"{key}: {number} is not a valid id (ids are positive)")
        out.append(number)
    return tuple(out)


def parse_artifacts(value: object) -> tuple[Artifact, ...]:
    """``"thumbnail,render"`` or a list of names -> artifacts in a canonical order."""
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        names = [str(part).strip() for part in value]
    else:
        raise ConfigError(f"artifacts: expected a list of names, got {value!r}")
    valid = [a.value for a in Artifact]
    chosen: set[Artifact] = set()
    for name in names:
        if name == "all":
            chosen.update(Artifact)
            continue
        if name not in valid:
            import difflib  # only on this error path: not part of every start-up

            near = difflib.get_close_matches(name, valid, n=1)
            hint = f"did you mean {near[0]!r}?" if near else f"valid: {', '.join(valid)}"
            raise ConfigError(f"artifacts: unknown artifact {name!r}", hint=hint)
        chosen.add(Artifact(name))
    if not chosen:
        raise ConfigError("artifacts: choose at least one", hint=f"valid: {', '.join(valid)}")
    return tuple(a for a in Artifact if a in chosen)


def parse_rate(value: object) -> float | None:
    """A request rate: positive number, or ``none``/``0``-free "unlimited" spelled ``none``."""
    if value is None:
        return None
    shown = value.strip() if isinstance(value, str) else value  # as the user wrote it
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("none", "unlimited", "off"):
            return None
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(
                f"rate: {value!r} is not a number", hint="use requests per second, or 'none'"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"rate: {value!r} is not a number")
    rate = float(value)
    if not math.isfinite(rate) or rate <= 0:
        raise ConfigError(
            f"rate: {shown} must be a positive number of requests per second",
            hint="use --rate none to lift the limit",
        )
    return rate


def parse_shard(value: object) -> tuple[int, int] | None:
    """``"K/N"`` (0-based K) -> ``(K, N)``; the rules and messages are :mod:`harvester.shard`'s."""
    if value is None:
        return None
    try:
        shard = shard_spec(str(value).strip())
    except UsageError as error:
        raise ConfigError(str(error), hint=error.hint) from None
    return shard.k, shard.n


_INT_LIST_KEYS = ("screens", "projects", "plates", "datasets", "images")
_PATH_KEYS = ("ids_from", "out", "from_plan")


@dataclass(frozen=True)
class HarvestConfig:
    """Everything one run needs to know; see ``configs/default.toml`` for each key."""

    base_url: str = DEFAULT_BASE_URL
    screens: tuple[int, ...] = ()
    projects: tuple[int, ...] = ()
    plates: tuple[int, ...] = ()
    datasets: tuple[int, ...] = ()
    images: tuple[int, ...] = ()
    ids_from: Path | None = None
    out: Path | None = None
    artifacts: tuple[Artifact, ...] = DEFAULT_ARTIFACTS
    concurrency: int = DEFAULT_CONCURRENCY
    rate: float | None = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    max_retries: int = DEFAULT_MAX_RETRIES
    timeout: float = DEFAULT_TIMEOUT
    min_speed: float = DEFAULT_MIN_SPEED
    thumbnail_size: int = DEFAULT_THUMBNAIL_SIZE
    render_format: str = DEFAULT_RENDER_FORMAT
    render_quality: float = DEFAULT_RENDER_QUALITY
    window: str = DEFAULT_WINDOW
    max_plane: int | None = None
    dry_run: bool = False
    quiet: bool = False
    debug: bool = False
    shard: str | None = None
    from_plan: Path | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)
    follow_redirects: bool = False
    labels: bool = True
    queue_size: int = DEFAULT_QUEUE_SIZE
    walk_concurrency: int = DEFAULT_WALK_CONCURRENCY
    give_up_after: int = DEFAULT_GIVE_UP_AFTER
    # training-data selection (harvester/select.py)
    where: tuple[Condition, ...] = ()
    sample: int | None = None
    sample_fraction: float | None = None
    seed: int = 0
    label_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Normalise what Python callers may pass loosely (lists, strings, str paths).
        object.__setattr__(self, "artifacts", parse_artifacts(list(self.artifacts)))
        for key in _INT_LIST_KEYS:
            object.__setattr__(self, key, _as_int_list(key, list(getattr(self, key))))
        for key in _PATH_KEYS:
            value = getattr(self, key)
            if isinstance(value, str):
                object.__setattr__(self, key, Path(value))
        if isinstance(self.rate, str):
            object.__setattr__(self, "rate", parse_rate(self.rate))
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"base_url: {self.base_url.partition('?')[0]!r} is not an http(s) URL",
                hint="e.g. https://idr.openmicroscopy.org",
            )
        positive = {
            "concurrency": self.concurrency,
            "burst": self.burst,
            "thumbnail_size": self.thumbnail_size,
            "queue_size": self.queue_size,
            "walk_concurrency": self.walk_concurrency,
            "give_up_after": self.give_up_after,
        }
        for key, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{key}: {value!r} must be an integer of at least 1")
        if self.max_plane is not None and (
            isinstance(self.max_plane, bool)
            or not isinstance(self.max_plane, int)
            or self.max_plane < 1
        ):
            raise ConfigError(f"max_plane: {self.max_plane!r} must be a positive integer")
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or self.max_retries < 0
        ):
            raise ConfigError(f"max_retries: {self.max_retries!r} must be an integer >= 0")
        if not isinstance(self.timeout, int | float) or not self.timeout > 0:
            raise ConfigError(f"timeout: {self.timeout!r} must be a positive number of seconds")
        if (
            isinstance(self.min_speed, bool)
            or not isinstance(self.min_speed, int | float)
            or not 0 <= self.min_speed < math.inf
        ):
            raise ConfigError(
                f"min_speed: {self.min_speed!r} must be 0 (no minimum) or more bytes per second"
            )
        if self.rate is not None:
            parse_rate(self.rate)
        if not isinstance(self.render_quality, int | float) or not 0 < self.render_quality <= 1:
            raise ConfigError(f"render_quality: {self.render_quality!r} must be in (0, 1]")
        if self.window not in WINDOWS:
            raise ConfigError(f"window: {self.window!r} is not one of {', '.join(WINDOWS)}")
        if self.render_format not in RENDER_FORMATS:
            raise ConfigError(
                f"render_format: {self.render_format!r} is not one of {', '.join(RENDER_FORMATS)}"
            )
        parse_shard(self.shard)
        object.__setattr__(self, "where", parse_where(self.where))
        object.__setattr__(self, "label_keys", parse_label_keys(self.label_keys))
        check_sample(self.sample)
        check_fraction(self.sample_fraction)
        check_seed(self.seed)
        if self.where and not self.labels:
            raise ConfigError(
                "where: selecting by annotation needs labels",
                hint="remove --no-labels (labels = false)",
            )

    # ------------------------------------------------------------------ derived
    @property
    def base(self) -> str:
        """The base URL with exactly one trailing slash (paths are joined to it)."""
        return self.base_url.rstrip("/") + "/"

    @property
    def shard_spec(self) -> tuple[int, int] | None:
        """``(K, N)`` when sharded."""
        return parse_shard(self.shard)

    @property
    def has_targets(self) -> bool:
        """Whether anything at all was asked for."""
        return bool(
            self.screens
            or self.projects
            or self.plates
            or self.datasets
            or self.images
            or self.ids_from
            or self.from_plan
        )

    def to_public(self) -> dict[str, Any]:
        """A JSON-ready dict of every key, with secret values replaced by ``<redacted>``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_KEYS:
                value = {key: REDACTED for key in value}
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [str(v) if isinstance(v, Artifact | Condition) else v for v in value]
            out[f.name] = value
        # A URL may carry a session key (?bsession=...): keep scheme, host and path only.
        parts = urlsplit(self.base_url)
        out["base_url"] = (
            f"{parts.scheme}://{parts.hostname or ''}"
            + (f":{parts.port}" if parts.port else "")
            + parts.path
        )
        return out


def _missing_hint(path: Path) -> str | None:
    """Where a relative config path was looked for, and where the example configs live."""
    if path.is_absolute():
        return None
    hint = f"a relative path is read from the current folder, {Path.cwd()}"
    if path.parts[:1] == ("configs",):
        hint += (
            "; the example configs are in the configs/ folder of harvester's source checkout"
            " (an installed package does not carry them)"
        )
    return hint


KEYS: tuple[str, ...] = tuple(f.name for f in fields(HarvestConfig))
_BOOL_KEYS = ("dry_run", "quiet", "debug", "follow_redirects", "labels")
_MAPPING_KEYS = ("headers", "cookies")


def _coerce(key: str, value: Any, base_dir: Path | None) -> Any:
    """Turn one raw (TOML or CLI) value into the field's type, or raise ConfigError."""
    if key in _INT_LIST_KEYS:
        return _as_int_list(key, value)
    if key in _PATH_KEYS:
        if value is None:
            return None
        if not isinstance(value, str | Path):
            raise ConfigError(f"{key}: expected a path, got {value!r}")
        path = Path(value).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        return path
    if key in _BOOL_KEYS:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if key in _MAPPING_KEYS:
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ConfigError(f"{key}: expected a table of strings")
        return dict(value)
    if key == "artifacts":
        return parse_artifacts(value)
    if key == "rate":
        return parse_rate(value)
    if key in ("timeout", "render_quality", "min_speed"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if key in ("base_url", "render_format", "window", "shard"):
        if value is None and key == "shard":
            return None
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value.strip()
    if key == "max_plane" and (value is None or value == 0):
        return None
    if key == "where":
        return parse_where(value)
    if key == "label_keys":
        return parse_label_keys(value)
    if key == "sample":
        return check_sample(value)
    if key == "sample_fraction":
        return check_fraction(value)
    # remaining keys are integers
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            raise ConfigError(
                f"{key}: expected an integer, got the text {value!r}",
                hint=f"write {key} = {value.strip()} without quotes",
            )
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    return value


def check_keys(data: Mapping[str, Any], source: str) -> None:
    """Refuse unknown keys, naming the nearest valid one."""
    for key in data:
        if key not in KEYS:
            import difflib  # only on this error path: not part of every start-up

            near = difflib.get_close_matches(key, KEYS, n=1, cutoff=0.5)
            hint = (
                f"did you mean {near[0]!r}?" if near else "see configs/default.toml for every key"
            )
            raise ConfigError(f"{source}: unknown key {key!r}", hint=hint)


def load_toml(path: Path) -> dict[str, Any]:
    """Read a config file; relative paths inside it are relative to the file."""
    import tomllib  # only with a config file: a flags-only run does not load the parser

    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {str(path)!r} not found", hint=_missing_hint(path)
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"config file {str(path)!r} is a directory") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc.strerror}") from None
    # Allow an optional [harvest] table so that one file can hold several tools' settings.
    if set(raw) == {"harvest"} and isinstance(raw["harvest"], dict):
        raw = raw["harvest"]
    check_keys(raw, str(path))
    return {key: _coerce(key, value, path.parent) for key, value in raw.items()}


def resolve(
    config_file: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> HarvestConfig:
    """File values, then overrides (CLI flags; ``None`` means "not given")."""
    values: dict[str, Any] = load_toml(config_file) if config_file is not None else {}
    for key, value in (overrides or {}).items():
        if key not in KEYS:
            raise ConfigError(f"unknown setting {key!r}")
        if value is None:
            continue
        values[key] = _coerce(key, value, None)
    try:
        return HarvestConfig(**values)
    except TypeError as exc:  # pragma: no cover - keys are checked above
        raise ConfigError(str(exc)) from None
