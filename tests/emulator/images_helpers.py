"""Helpers for the image-route tests: call the app in-process, decode images, stand-in images."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import parse_qsl, unquote

import numpy as np
from PIL import Image

from harvester.emulator.app import App
from harvester.emulator.catalogue import Catalogue
from harvester.emulator.http import Request, Response
from harvester.emulator.model import ChannelInfo, ImageInfo
from harvester.emulator.site import Site


def make_app(preset: str = "demo", mode: str = "omeroweb", **options: Any) -> App:
    """The full emulator application for a preset and mode."""
    return App(Site(Catalogue(preset, 0), mode=mode, **options))  # type: ignore[arg-type]


def call(
    app: App,
    url: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    inject: frozenset[str] = frozenset(),
) -> Response:
    """Answer ``url`` (path + query) as the server would hand it to the app."""
    path, _, qs = url.partition("?")
    query = tuple(parse_qsl(qs, keep_blank_values=True))
    req = Request(method, unquote(path), url, query, headers or {}, inject=inject)
    return app.handle(req)


def decode(body: bytes) -> np.ndarray:
    """Decode JPEG/PNG/TIFF bytes to an (H, W, 3) uint8 array."""
    with Image.open(io.BytesIO(body)) as im:
        return np.asarray(im.convert("RGB"))


def stand_in_image(
    image_id: int = 42,
    size: tuple[int, int] = (300, 200),
    pixel_type: str = "uint16",
    size_c: int = 2,
    size_z: int = 1,
    size_t: int = 1,
    levels: int = 1,
) -> ImageInfo:
    """An ImageInfo built by hand (for pixel tests independent of the catalogue)."""
    colours = ("FF0000", "00FF00", "0000FF", "FFFFFF")
    channels = tuple(
        ChannelInfo(f"ch{i}", colours[i % 4], 0.0, 65535.0, 10.0, 400.0 + 100 * i)
        for i in range(size_c)
    )
    return ImageInfo(
        id=image_id,
        name=f"img{image_id}",
        size_x=size[0],
        size_y=size[1],
        size_z=size_z,
        size_c=size_c,
        size_t=size_t,
        pixel_type=pixel_type,
        channels=channels,
        levels=levels,
    )
