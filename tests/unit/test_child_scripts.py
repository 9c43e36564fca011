"""A child script's patch of a name the harvester no longer has fails as it is written."""

from __future__ import annotations

import pytest
from child_scripts import checked


def test_a_patch_of_a_renamed_name_fails_naming_it() -> None:
    """A module's private function, a class's method, a constant: each missing one is named."""
    script = """
import harvester.index as index
from harvester.pipeline import Harvest
import harvester.store
index._render_piece_renamed = print
Harvest._no_such_method = print
harvester.store.NO_SUCH_CONSTANT = 1
"""
    with pytest.raises(AssertionError) as raised:
        checked(script)
    assert str(raised.value).startswith(
        "a child script patches index._render_piece_renamed, Harvest._no_such_method, "
        "harvester.store.NO_SUCH_CONSTANT, which the harvester no longer has"
    )


def test_patches_of_names_that_exist_pass_and_the_script_is_kept() -> None:
    """Names that exist pass; a local object's attribute is the script's own business."""
    script = """
    import sys
    from harvester import index, store
    real = index._render_piece
    index._render_piece = real
    store.os.replace = store.os.replace
    sys.argv = ["harvester"]
    class Local: pass
    Local.anything = 1
    """
    assert checked(script) is script
