"""placing: which place a harvest journals for an image met twice, or moved on the server."""

from __future__ import annotations

import json

from harvester.models import ImageRef
from harvester.placing import Listed, Placing

P, LOW, HIGH = 2001, 62001, 62002


def _in(dataset_id: int, image_id: int = 1, project_id: int | None = P) -> ImageRef:
    return ImageRef(image_id, project_id=project_id, dataset_id=dataset_id)


def test_only_a_place_listed_whole_is_left() -> None:
    """A journaled dataset listed whole without the image, or a project listed whole
    without its dataset, is left; one not listed (or listed under another project, the
    image still in it) is not."""
    listed = Listed()
    assert not listed.left(_in(LOW), _in(HIGH))
    listed.images("dataset", P, LOW)
    assert listed.left(_in(LOW), _in(HIGH))
    assert not listed.left(_in(LOW, project_id=2000), _in(LOW))  # (2000 not listed)
    listed.children("project", 2000, frozenset({HIGH}))
    assert listed.left(_in(LOW, project_id=2000), _in(LOW))  # 62001 no longer in 2000
    screen = Listed()
    screen.children("screen", 3, frozenset({7}))
    assert screen.left(ImageRef(1, screen_id=3, plate_id=8), ImageRef(1, screen_id=4, plate_id=8))


def test_listed_survives_a_plan() -> None:
    """What a plan keeps of Listed reads back the same; a malformed record lists nothing."""
    listed = Listed()
    listed.images("dataset", None, LOW)
    listed.images("plate", 3, 7)
    listed.children("project", P, frozenset({LOW, HIGH}))
    again = Listed.from_json(json.loads(json.dumps(listed.to_json())))
    assert again.to_json() == listed.to_json()
    assert again.left(_in(LOW), _in(HIGH))
    assert Listed.from_json({"images": {"dataset": [["x", 1]]}, "children": 3}).to_json() == (
        Listed().to_json()
    )


def test_a_journaled_place_is_kept_back_until_the_walk_lists_it() -> None:
    """A journaled place that ranks first stands while the walk has not listed it; once it
    has, without the image, the place found is journaled; a walk over that never listed
    it keeps the journal's."""
    for lists_it, expected in ((True, HIGH), (False, None)):
        listed = Listed()
        placing = Placing(listed)
        journaled = _in(LOW)
        assert placing.place(_in(HIGH), journaled) == journaled  # kept back for now
        assert list(placing.decide({1: journaled}, placing.ready())) == []
        if lists_it:
            listed.images("dataset", P, LOW)
        else:
            placing.final = True
        told = list(placing.decide({1: journaled}, placing.ready()))
        assert [placed.dataset_id for placed, _ in told] == ([expected] if expected else [])
        assert not placing.ready()  # (told: held no more)


def test_a_place_that_ranks_first_needs_no_listing() -> None:
    """Met again under a lower dataset than the one its worker journaled, the image is
    journaled there; met under a higher one, nothing is journaled."""
    placing = Placing(Listed())
    assert placing.place(_in(HIGH), None) == _in(HIGH)
    placing.met_again(_in(LOW))
    assert [p.dataset_id for p, _ in placing.decide({1: _in(HIGH)}, placing.ready())] == [LOW]
    placing.place(_in(LOW, image_id=2), None)
    placing.met_again(_in(HIGH, image_id=2))
    assert list(placing.decide({2: _in(LOW, image_id=2)}, placing.ready())) == []


def test_images_met_again_are_told_every_batch() -> None:
    """Of 1,000 shared images, the harvest is asked to tell them every 100 (due), each
    journaled under its lowest dataset, so it holds about a batch, not all of them."""
    placing = Placing(Listed(), batch=100)
    records: dict[int, ImageRef] = {}
    told: list[ImageRef] = []
    most = 0
    for image_id in range(1, 1001):
        records[image_id] = placing.place(_in(HIGH, image_id), records.get(image_id))
        placing.met_again(_in(LOW, image_id))
        most = max(most, len(placing.ready()))
        if placing.due:
            told += [placed for placed, _ in placing.decide(records, placing.ready())]
    told += [placed for placed, _ in placing.decide(records)]
    assert sorted(p.image_id for p in told) == list(range(1, 1001))
    assert {p.dataset_id for p in told} == {LOW}
    assert most == 100


def test_a_peek_marks_nothing_for_decide() -> None:
    """peek() (a sample's record made ahead of the worker) answers as place() would but
    leaves the image for its worker: not ready, so not decided and forgotten before it."""
    listed = Listed()
    listed.images("dataset", P, LOW)
    placing = Placing(listed, final=True)
    journaled = _in(LOW)
    placing.met_again(_in(LOW, project_id=P + 1))  # (met in the journal's place too)
    assert placing.peek(_in(HIGH), journaled) == journaled
    assert placing.ready() == []
    assert placing.place(_in(HIGH), journaled) == journaled
    assert placing.ready() == [1]
