"""Pasted targets read as ids (:mod:`harvester.target_text`), and ids written back as the
flags read them: the link shapes OMERO.web pages give, and printed ranges that re-parse."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.cli import build_parser
from harvester.config import RecordedRun, recorded_flags, target_flags
from harvester.target_text import MAX_RANGE, TargetTextError, compact_ids, parse_link


@pytest.mark.parametrize(
    ("link", "server", "images"),
    [
        (
            "https://idr.openmicroscopy.org/iviewer/?images=9762957",
            "https://idr.openmicroscopy.org",
            [9762957],
        ),
        ("https://h/iviewer/?images=1,2,3&dataset=51", "https://h", [1, 2, 3]),
        ("https://h/iviewer/?images=1%2C2", "https://h", [1, 2]),
        ("https://h/omero/iviewer/7/?dataset=51", "https://h/omero", [7]),
        ("https://h/iviewer/7/?images=8", "https://h", [7, 8]),
        ("https://h:8443/webgateway/img_detail/12/", "https://h:8443", [12]),
        ("HTTPS://H/Webclient/img_detail/12/?dataset=3", "https://h", [12]),
        ("https://alice:pw@h/webclient/?show=image-4|image-4", "https://h", [4]),
        # an address of one image's data, as "Copy image address" gives it
        ("https://h/webgateway/render_image/1/0/0/?c=1", "https://h", [1]),
        ("https://h/omero/webclient/render_thumbnail/5/96/?version=2", "https://h/omero", [5]),
        ("https://h/webclient/imgData/7/", "https://h", [7]),
        ("https://h/omero/api/v0/m/images/8/", "https://h/omero", [8]),
        # the webclient's own thumbnails (size, then the id), and a split-channel render
        ("https://h/webclient/render_thumbnail/size/96/9/", "https://h", [9]),
        ("https://h/webgateway/render_split_channel/10/0/0/?c=1", "https://h", [10]),
        # the image-region microservice's routes (IDR's viewers): full-settings renders,
        # OME-Zarr thumbnails (webgateway: id then size; webclient: size/W/ID)
        ("https://h/webgateway/render_image_rdef/11/0/0/?c=1|0:255$FF0000&m=c", "https://h", [11]),
        ("https://h/webclient/render_image_region_rdef/12/0/0/?tile=0,0,0", "https://h", [12]),
        ("https://h/omero/webgateway/render_thumbnail_ngff/13/96/", "https://h/omero", [13]),
        ("https://h/webclient/render_thumbnail_ngff/14/", "https://h", [14]),
        ("https://h/webclient/render_thumbnail_ngff/size/96/15/", "https://h", [15]),
    ],
)
def test_image_links_of_omero_web_pages(link: str, server: str, images: list[int]) -> None:
    """Each image page's link gives its images once each, in order, and the address before
    the page (its path prefix kept, no user) as the server."""
    read = parse_link(link)
    assert read.server == server
    assert read.ids_of("image") == images
    assert [kind for kind, _id in read.shown] == ["image"] * len(images)


@pytest.mark.parametrize(
    "link",
    [
        "https://h/webgateway/render_image/x/0/0/",
        "https://h/webgateway/render_image/",
        "https://h/api/v0/m/images/",
        "https://h/webclient/render_thumbnail/size/96/",  # (no id after the size)
        "https://h/webclient/render_thumbnail_ngff/size/96/",
        "https://h/webgateway/render_image_rdef/x/0/0/",
        "https://h/webgateway/render_shape_mask/5/",  # (a shape's id, not an image's)
        "https://h/webgateway/img_detail/x/",
        "https://h/iviewer/?well=5",
        "https://h/iviewer/1/2/",
        "https://h/iviewer/?images=0",
        "https://h/gallery/?images=1",
    ],
)
def test_links_of_no_image_are_refused(link: str) -> None:
    """A page that is no image viewer, a viewer's link without an image id: refused."""
    with pytest.raises(TargetTextError):
        parse_link(link + "?bsession=KEY" if "?" not in link else link + "&bsession=KEY")


@pytest.mark.parametrize(
    ("ids", "items"),
    [
        ([], []),
        ([5], ["5"]),
        ([5, 6], ["5", "6"]),
        ([5, 6, 7], ["5-7"]),
        ([1, 2, 3, 9, 4, 5, 6], ["1-3", "9", "4-6"]),
        ([3, 2, 1], ["3", "2", "1"]),
        (list(range(1, 2502)), ["1-1000", "1001-2000", "2001-2501"]),
    ],
)
def test_compact_ids(ids: list[int], items: list[str]) -> None:
    """Runs of three or more consecutive ids become ranges of at most MAX_RANGE ids."""
    assert compact_ids(ids) == items
    assert all(item.count("-") == 0 or _size(item) <= MAX_RANGE for item in items)


def _size(item: str) -> int:
    first, _dash, last = item.partition("-")
    return int(last) - int(first) + 1


IDS = st.lists(st.integers(min_value=1, max_value=60), max_size=40) | st.lists(
    st.integers(min_value=1, max_value=3000), min_size=1, max_size=3
).map(lambda ends: list(range(min(ends), max(ends) + 1)))


@settings(max_examples=100, deadline=None)
@given(images=IDS, plates=IDS, screens=st.lists(st.integers(1, 9), max_size=5))
def test_printed_target_flags_parse_back_to_the_same_ids(
    images: list[int], plates: list[int], screens: list[int]
) -> None:
    """The flags a take-back or resume prints for a saved run's targets, read again by the
    harvest command's own parser, name the same ids in the same order (ranges and all);
    screens, whose flag takes no range, one by one."""
    recorded = RecordedRun("", {"images": images, "plates": plates, "screens": screens})
    for words in (target_flags(recorded), recorded_flags(recorded)):
        args = build_parser().parse_args(["harvest", "--out", "D", *words])
        assert (args.images or []) == images
        assert (args.plates or []) == plates
        assert (args.screens or []) == screens
        assert words.count("--screen") == len(screens)


def test_a_config_files_typed_screen_is_an_id_not_a_name() -> None:
    """``screens = ["Screen:2302", "idr0056", "2021-03"]``: the typed id is id 2302 (it
    was a name looked up on the server), the others names (no ranges for screens)."""
    from harvester.config import HarvestConfig

    config = HarvestConfig(screens=["Screen:2302", "idr0056", "2021-03"])  # type: ignore[arg-type]
    assert config.screens == (2302,)
    assert config.screen_names == ("idr0056", "2021-03")


@pytest.mark.parametrize("port", ["99999", "0", "x"])
def test_a_link_of_no_valid_port_is_refused_not_read_as_the_default_port(port: str) -> None:
    """``https://h:99999/...`` was read as of ``https://h`` (the port dropped): a link of
    no server at all chose another, the default port's, to ask. Refused, naming the link
    as given (its port, its user, the password redacted, no query)."""
    link = f"https://alice:pw@h:{port}/webclient/?show=image-1&bsession=KEY"
    with pytest.raises(TargetTextError) as raised:
        parse_link(link)
    assert str(raised.value) == (
        f"'https://alice:REDACTED@h:{port}/webclient/' names no valid port (1 to 65535)"
    )
    assert parse_link("https://h:8443/webclient/?show=image-1").server == "https://h:8443"
