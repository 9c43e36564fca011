"""The targets ``harvester forget`` is given name the set as a run of those targets saved it.

The refusal's hint prints a set's targets (:func:`harvester.config.target_flags`) for the user
to paste: they must name the same set (:func:`harvester.config.target_set`) once parsed by
``forget``, however the run that saved them typed its ids, terms and paths.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from harvester.cli.forget import _named_set, register
from harvester.config import DEFAULT_BASE_URL, RecordedRun, resolve, target_flags, target_set
from harvester.emulator import EmulatorThread


def forget_args(*words: str) -> argparse.Namespace:
    """``harvester forget WORDS`` parsed by the command's own parser."""
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["forget", *words])


@pytest.mark.parametrize(
    "given",
    [
        {"plates": [7375, 7361, 7375]},
        {"screens": [2302, "idr0056"], "where": ["gene symbol=ECT2", "Phenotype~mitosis"]},
        {"ids_from": Path("ids.txt"), "sample": 5, "seed": 3},
        {"datasets": [51], "images": [1884801]},
        {"screens": [2302], "sample": 3, "sample_per": "Gene Symbol"},
        {"from_plan": Path("study"), "sample": 3, "sample_per": "gene symbol"},
    ],
)
def test_printed_targets_name_the_saved_set(
    given: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's saved targets, printed as flags and given to forget, make the run's set key."""
    monkeypatch.chdir(tmp_path)
    saved = RecordedRun("run", resolve(None, {"out": tmp_path / "d", **given}).to_public())
    named = _named_set(forget_args(str(tmp_path / "d"), *target_flags(saved)))
    assert named is not None
    assert target_set(RecordedRun("", named)) == target_set(saved)


def test_where_alone_names_no_set(tmp_path: Path) -> None:
    """``--where`` without targets names nothing (every set of DIR could carry the term)."""
    assert _named_set(forget_args(str(tmp_path), "--where", "Gene Symbol=ECT2")) is None


def test_the_undo_of_a_set_of_the_default_server_names_it_in_a_folder_of_another(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A set harvested from IDR (the default, left out of its saved flags) in a folder whose
    other set is another server's: the undo names IDR's URL, which a harvest of DIR given
    no --base-url would not ask (it asks DIR's server)."""
    from harvester.cli import main
    from harvester.cli.forget import _again_command

    out = tmp_path / "d"
    assert main(["harvest", "--base-url", emulator.base_url, "--plate", "7375", "--out",
                 str(out), "--artifacts", "thumbnail", "--rate", "none", "-q"]) == 0  # fmt: skip
    idr = RecordedRun("run", resolve(None, {"out": out, "plates": [3001]}).to_public())
    assert _again_command(out, idr) == (
        f"harvester harvest --out {out} --base-url {DEFAULT_BASE_URL} --plate 3001"
    )
    given = {"out": out, "plates": [7375], "base_url": emulator.base_url}
    ours = RecordedRun("run", resolve(None, given).to_public())
    assert "--base-url" in _again_command(out, ours)  # (as recorded: not the default)


@pytest.mark.parametrize(
    "words",
    [
        ("--plate", "Plate:7375", "--plate", "7376-7377"),
        ("--plate", "http://127.0.0.1:9/webclient/?show=plate-7375|plate-7376|plate-7377"),
    ],
)
def test_pasted_targets_name_the_set_of_their_ids(tmp_path: Path, words: tuple[str, ...]) -> None:
    """Typed ids, ranges and webclient links given to forget name the set their ids make."""
    saved = RecordedRun(
        "run", resolve(None, {"out": tmp_path / "d", "plates": [7375, 7376, 7377]}).to_public()
    )
    named = _named_set(forget_args(str(tmp_path / "d"), *words))
    assert named is not None
    assert target_set(RecordedRun("", named)) == target_set(saved)


def test_a_saved_command_line_of_typed_ids_gives_their_ids_and_names_stay_names() -> None:
    """A run's saved ``--screen Screen:2302,2303,2021-03`` is screens 2302 and 2303 and the
    name ``2021-03`` (as the run read it: no ranges where names are taken)."""
    from harvester.cli.forget import _argv_targets
    from harvester.config import name_key

    found = _argv_targets(("harvest", "--screen", "Screen:2302,2303,2021-03", "--out", "d"))
    assert found["screens"] == (frozenset({2302, 2303}), frozenset({name_key("2021-03")}))
