"""urls.py and the URL-building parts of fetch.py: byte-stable, fully specified."""

from __future__ import annotations

from typing import Any

import pytest

from harvester import urls
from harvester.fetch import GiveUp, render_path_from_imgdata
from harvester.walk import SeenIds, labels_by_parent

IMGDATA: dict[str, Any] = {
    "id": 9762957,
    "size": {"width": 659, "height": 493, "z": 3, "t": 1, "c": 2},
    "channels": [
        {"color": "00ff00", "active": True, "window": {"start": 250.0, "end": 4095.5}},
        {"color": "FF0000", "active": False, "window": {"start": 0.1, "end": 65535.0}},
    ],
    "rdefs": {"model": "color", "defaultZ": 1, "defaultT": 0},
}


def test_number_formatting_is_fixed() -> None:
    """Integral floats lose '.0'; others use the shortest round-trip form."""
    assert urls.num(250.0) == "250"
    assert urls.num(0.1) == "0.1"
    assert urls.num(7) == "7"
    assert urls.num(4095.5) == "4095.5"


def test_render_url_fully_specified_and_stable() -> None:
    """z/t in the path, every channel with window+colour, m and q, same bytes every time."""
    first = render_path_from_imgdata(9762957, IMGDATA, 0.9)
    again = render_path_from_imgdata(9762957, dict(IMGDATA), 0.9)
    assert first == again
    assert first == (
        "webgateway/render_image/9762957/1/0/"
        "?c=1%7C250:4095.5$00FF00,-2%7C0.1:65535$FF0000&m=c&q=0.9"
    )


def test_greyscale_model() -> None:
    """A greyscale rendering definition gives m=g."""
    data = dict(IMGDATA, rdefs={"model": "greyscale", "defaultZ": 0, "defaultT": 0})
    assert "&m=g&" in render_path_from_imgdata(1, data, 0.9)


def test_render_and_stack_read_windows_and_colours_alike() -> None:
    """The render URL uses window.py's reading of imgData: '#' colours, widened empty windows."""
    from harvester.window import choose_windows

    data = dict(
        IMGDATA,
        channels=[
            {"color": "#00ff00", "active": True, "window": {"start": 7.0, "end": 7.0}},
            {"color": "FF0000", "active": False, "window": {"start": 0.1, "end": 65535.0}},
        ],
    )
    windows = choose_windows(data, "rendering")
    assert [(w.color, w.text) for w in windows] == [("00FF00", "7:8"), ("FF0000", "0.1:65535")]
    assert "?c=1%7C7:8$00FF00,-2%7C0.1:65535$FF0000&" in render_path_from_imgdata(1, data, 0.9)


def test_thumbnail_default_size_is_the_cached_url() -> None:
    """Size 96 uses the unsized URL (IDR's cached thumbnail), others put the size in the path."""
    assert urls.thumbnail(5) == "webgateway/render_thumbnail/5/"
    assert urls.thumbnail(5, 96) == "webgateway/render_thumbnail/5/"
    assert urls.thumbnail(5, 256) == "webgateway/render_thumbnail/5/256/"


def test_every_url_ends_with_slash_before_query() -> None:
    """OMERO.web answers 301 without the trailing slash: every path has it."""
    for path in (
        urls.imgdata(1),
        urls.image_metadata(1),
        urls.plate_wells(2, 0),
        urls.screen_plates(3, 1),
        urls.dataset_images(4, 2),
        urls.map_annotations("well", [1, 2]),
        urls.plate_grid(5, 0),
    ):
        assert path.split("?", 1)[0].endswith("/")


def test_annotation_batches_are_capped() -> None:
    """At most 200 ids per annotations request (gunicorn's request-line limit)."""
    assert urls.map_annotations("well", [1, 2]) == (
        "webclient/api/annotations/?type=map&well=1&well=2"
    )
    with pytest.raises(ValueError):
        urls.map_annotations("well", range(201))


def test_labels_deduplicated_per_link() -> None:
    """Map annotation pairs are kept in order with duplicate keys, once per (annotation, parent)."""
    body = {
        "annotations": [
            {
                "id": 1,
                "class": "MapAnnotationI",
                "link": {"parent": {"id": 10, "class": "WellI"}},
                "values": [["Gene", "A"], ["Phenotype", "x"], ["Phenotype", "y"]],
            },
            {
                "id": 1,
                "class": "MapAnnotationI",
                "link": {"parent": {"id": 10, "class": "WellI"}},
                "values": [["Gene", "A"]],
            },
            {
                "id": 2,
                "class": "TagAnnotationI",
                "link": {"parent": {"id": 10, "class": "WellI"}},
            },
        ]
    }
    assert labels_by_parent(body, "WellI") == {
        10: [("Gene", "A"), ("Phenotype", "x"), ("Phenotype", "y")]
    }


def test_labels_of_one_namespace_keep_one_order_whatever_the_servers() -> None:
    """Two gene annotations on one well, listed in either order (OMERO.web orders by
    namespace only): the same labels in the same order, the server's namespace order kept."""

    def gene(ann_id: int, value: str) -> dict[str, object]:
        return {
            "id": ann_id,
            "ns": "openmicroscopy.org/mapr/gene",
            "class": "MapAnnotationI",
            "link": {"parent": {"id": 10, "class": "WellI"}},
            "values": [["Gene Symbol", value]],
        }

    phenotype = {
        "id": 1,
        "ns": "openmicroscopy.org/mapr/phenotype",
        "class": "MapAnnotationI",
        "link": {"parent": {"id": 10, "class": "WellI"}},
        "values": [["Phenotype", "x"]],
    }
    first = labels_by_parent({"annotations": [gene(7, "A"), gene(5, "B"), phenotype]}, "WellI")
    again = labels_by_parent({"annotations": [gene(5, "B"), gene(7, "A"), phenotype]}, "WellI")
    assert first == again == {10: [("Gene Symbol", "B"), ("Gene Symbol", "A"), ("Phenotype", "x")]}


def test_seen_ids_bitmap() -> None:
    """Each image id is accepted once, small or huge."""
    seen = SeenIds()
    assert seen.add(15_000_000) and not seen.add(15_000_000)
    assert seen.add(3) and not seen.add(3)
    assert seen.add(2**40) and not seen.add(2**40)


def test_give_up_after_identical_failures() -> None:
    """20 identical failures in a row stop a kind; a different answer resets the streak."""
    give_up = GiveUp(20)
    for image_id in range(19):
        assert not give_up.failure("render", 403, f"Forbidden image {image_id}")
    assert not give_up.failure("render", 404, "Not found")
    for image_id in range(19):
        assert not give_up.failure("render", 403, f"Forbidden image {image_id}")
    assert give_up.failure("render", 403, "Forbidden image 99")
    assert "render" in give_up.stopped
