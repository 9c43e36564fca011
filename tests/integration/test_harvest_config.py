"""HarvestConfig: TOML loading, validation, overrides, shipped configs, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.config import (
    DEFAULT_CONCURRENCY,
    KEYS,
    HarvestConfig,
    load_toml,
    parse_rate,
    resolve,
)
from harvester.errors import ConfigError
from harvester.models import DEFAULT_ARTIFACTS, Artifact

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_polite() -> None:
    """Defaults match the documented politeness: 8 in flight, 10 requests/s, 4 artifacts."""
    cfg = HarvestConfig()
    assert cfg.concurrency == DEFAULT_CONCURRENCY == 8
    assert cfg.rate == 10.0
    assert cfg.artifacts == DEFAULT_ARTIFACTS
    assert cfg.thumbnail_size == 96


def test_unknown_key_names_nearest(tmp_path: Path) -> None:
    """A typo'd key is an error that names the nearest valid key."""
    with pytest.raises(ConfigError) as info:
        load_toml(write(tmp_path, "concurency = 4\n"))
    assert "concurency" in str(info.value)
    assert info.value.hint is not None and "concurrency" in info.value.hint


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("concurrency = 0\n", "concurrency"),
        ("concurrency = 'many'\n", "concurrency"),
        ("rate = -1\n", "rate"),
        ("plates = ['abc']\n", "plates"),
        ("artifacts = ['thumbnial']\n", "thumbnial"),
        ("window = 'wide'\n", "window"),
        ("base_url = 'ftp://x'\n", "base_url"),
        ("shard = '4/4'\n", "shard"),
        ("timeout = 0\n", "timeout"),
        ("quiet = 'yes'\n", "quiet"),
    ],
)
def test_bad_values_are_config_errors(tmp_path: Path, text: str, needle: str) -> None:
    """Impossible values and wrong types are ConfigErrors naming the key or value."""
    with pytest.raises(ConfigError) as info:
        resolve(write(tmp_path, text))
    assert needle in str(info.value)


def test_rate_none_lifts_the_limit(tmp_path: Path) -> None:
    """``rate = "none"`` (file) and ``--rate none`` (override) mean unlimited."""
    assert resolve(write(tmp_path, 'rate = "none"\n')).rate is None
    assert resolve(None, {"rate": "none"}).rate is None
    assert parse_rate("2.5") == 2.5


def test_overrides_beat_the_file(tmp_path: Path) -> None:
    """Command-line values replace file values; None means 'not given'."""
    path = write(tmp_path, "concurrency = 3\nscreens = [2302]\nout = 'data'\n")
    cfg = resolve(path, {"concurrency": 5, "rate": None, "out": None})
    assert cfg.concurrency == 5
    assert cfg.screens == (2302,)
    assert cfg.out == tmp_path / "data"  # relative to the config file


def test_artifacts_canonical_order() -> None:
    """Artifacts given in any order come back in canonical order; 'all' adds the stack."""
    cfg = resolve(None, {"artifacts": "render,thumbnail"})
    assert cfg.artifacts == (Artifact.THUMBNAIL, Artifact.RENDER)
    assert Artifact.STACK in resolve(None, {"artifacts": "all"}).artifacts


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.toml")))
def test_shipped_configs_load(name: str) -> None:
    """Every file in configs/ loads and validates."""
    cfg = resolve(CONFIGS / name)
    assert cfg.concurrency >= 1


def test_default_toml_lists_every_key() -> None:
    """configs/default.toml documents every key (set or commented out)."""
    text = (CONFIGS / "default.toml").read_text(encoding="utf-8")
    missing = [key for key in KEYS if key not in text]
    assert missing == []


def test_default_toml_describes_every_artifact_kind() -> None:
    """configs/default.toml's comment on `artifacts` describes every kind `all` fetches
    (it lacked `paths`, and counted "all six kinds" when there were seven)."""
    text = (CONFIGS / "default.toml").read_text(encoding="utf-8")
    described = {line.split(":")[0].removeprefix("# ") for line in text.splitlines()}
    assert {kind.value for kind in Artifact} <= described
    assert '("all" = every kind above)' in text


def test_real_idr_configs_are_polite() -> None:
    """The shipped IDR examples stay within IDR etiquette (<= 8 in flight, <= 10/s)."""
    paths = sorted(CONFIGS.glob("idr*.toml"))
    assert len(paths) >= 2, paths  # idr0021 and idr0056 ship: a rename left nothing checked
    for path in paths:
        cfg = resolve(path)
        assert "idr.openmicroscopy.org" in cfg.base_url
        assert cfg.concurrency <= 8
        assert cfg.rate is not None and cfg.rate <= 10


def test_public_config_hides_secrets() -> None:
    """Headers, cookies and URL credentials never reach the saved configuration."""
    cfg = HarvestConfig(
        base_url="https://user:pw@example.org/omero?bsession=SECRET1",
        headers={"Authorization": "Bearer SECRET2"},
        cookies={"sessionid": "SECRET3"},
    )
    text = repr(cfg.to_public())
    for secret in ("SECRET1", "SECRET2", "SECRET3", "pw@"):
        assert secret not in text
    assert "Authorization" in text
