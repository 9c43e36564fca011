"""A command's own option given before the command is named as misplaced, not "did you mean" it.

``harvester --debug status DIR`` is how many tools take a global flag; here ``--debug`` and
``--quiet`` belong to each command. Since the did-you-mean hints (22b1264), the command's
parser reports the unknown word and offered the very option typed: "did you mean --debug?".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.cli import main


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["--debug", "status", "DIR"], "hint: --debug goes after the command: harvester status"),
        (
            ["--quiet", "harvest", "--screen", "1", "--out", "DIR"],
            "hint: --quiet goes after the command: harvester harvest",
        ),
    ],
)
def test_an_option_before_its_command_is_said_to_go_after_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], hint: str
) -> None:
    """Exit 2, and the hint says where the option goes instead of offering it back."""
    argv = [str(tmp_path / "d") if word == "DIR" else word for word in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "did you mean" not in err, err
    assert hint in err, err


def test_a_mistyped_option_still_gets_its_did_you_mean(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The near miss after the command keeps its hint (``--jsn`` -> ``--json``)."""
    assert main(["status", str(tmp_path), "--jsn"]) == 2
    assert "hint: did you mean --json? see 'harvester status --help'" in capsys.readouterr().err
