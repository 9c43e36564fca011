"""The ``huge`` preset (1,000,000 images) serves a 100,000-image walk in bounded memory."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import psutil

from harvester.emulator import EmulatorThread
from harvester.emulator import catalogue as c

#: What listing 100,000 images may add to the process (about 30 MB measured): a bound on
#: growth, not on the total, which depends on what earlier tests left in the process.
RSS_GROWTH_LIMIT = 100 * 1024 * 1024


def test_walking_100k_images_of_huge_adds_under_100_mb(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """100 datasets x 1,000 images listed over sockets (plus 1,000 imgData) add < 100 MB RSS."""
    rss_before = psutil.Process().memory_info().rss
    emu = make_emulator(preset="huge")
    seen = 0
    last_id = 0
    with httpx.Client(base_url=emu.base_url, timeout=30.0) as client:
        for index in range(100):
            dataset_id = c.HUGE_FIRST_DATASET_ID + index
            resp = client.get(f"/webclient/api/images/?id={dataset_id}&limit=1000&sizeXYZ=true")
            assert resp.status_code == 200
            images = resp.json()["images"]
            assert len(images) == c.HUGE_IMAGES_PER_DATASET
            assert images[0]["id"] > last_id
            last_id = images[-1]["id"]
            seen += len(images)
            for image in images[::100]:
                meta = client.get(f"/webclient/imgData/{image['id']}/")
                assert meta.status_code == 200 and meta.json()["id"] == image["id"]
    assert seen == 100_000
    # The emulator runs in this process (a thread), so this bounds client + server together.
    assert psutil.Process().memory_info().rss - rss_before < RSS_GROWTH_LIMIT
