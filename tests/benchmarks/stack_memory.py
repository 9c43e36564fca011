"""Peak resident memory of stack assembly versus plane count (issue 4).

Stages N synthetic 8-bit PNG planes the way ``harvest_stack`` does, then
assembles the OME-TIFF in a fresh child process and reports the child's peak
RSS (``ru_maxrss``). Streaming assembly keeps the peak flat as N grows; an
implementation that stacked every plane in memory would grow by N x plane size.

    python tests/benchmarks/stack_memory.py [--planes 50,500,2000] [--size 256]

Prints a table; exits 1 if the peak at the largest N exceeds the peak at the
smallest N by more than 25 % of the planes' raw size (i.e. clearly not streaming).
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from harvester.planes import Geometry, plan_requests, write_atomic
from harvester.window import ChannelWindow

WINDOWS = (ChannelWindow(0, "C0", "FFFFFF", 0, 255),)


def _geometry(planes: int, size: int) -> Geometry:
    return Geometry(
        image_id=1,
        name="bench",
        size_x=size,
        size_y=size,
        size_z=planes,
        size_c=1,
        size_t=1,
        pixel_type="uint8",
    )


def stage(staging: Path, planes: int, size: int) -> None:
    """Write ``planes`` PNG renders into ``staging`` (structured, compressible)."""
    staging.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size]
    for request in plan_requests(_geometry(planes, size), WINDOWS):
        plane = ((xx + yy * 3 + request.z * 7) % 256).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(plane).save(buf, format="PNG", compress_level=1)
        write_atomic(staging / f"{request.stem}.png", buf.getvalue())


def child(staging: Path, planes: int, size: int, out: Path) -> None:
    """Assemble in this (fresh) process and print peak RSS as JSON."""
    from harvester.ometiff import StackMetadata
    from harvester.planes import staged_files
    from harvester.stack import assemble

    geometry = _geometry(planes, size)
    requests = plan_requests(geometry, WINDOWS)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    meta = StackMetadata(
        image_id=1,
        name="bench",
        server="bench",
        size_x=size,
        size_y=size,
        size_z=planes,
        size_c=1,
        size_t=1,
        windows=WINDOWS,
        window_mode="full",
        source_format="png",
    )
    start = time.perf_counter()
    assemble(geometry, requests, staged_files(staging), meta, out)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"base_kb": base, "peak_kb": peak, "seconds": elapsed}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planes", default="50,500,2000")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--child", nargs=3, metavar=("STAGING", "N", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), int(args.child[1]), args.size, Path(args.child[2]))
        return 0
    counts = [int(n) for n in args.planes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            staging = Path(tmp) / f"staging-{n}"
            stage(staging, n, args.size)
            out = Path(tmp) / f"stack-{n}.ome.tif"
            result = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--size",
                    str(args.size),
                    "--child",
                    str(staging),
                    str(n),
                    str(out),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            stats = json.loads(result.stdout.strip().splitlines()[-1])
            raw_mb = n * args.size * args.size / 2**20
            rows.append(
                (
                    n,
                    raw_mb,
                    stats["base_kb"] / 1024,
                    stats["peak_kb"] / 1024,
                    stats["seconds"],
                    out.stat().st_size / 2**20,
                )
            )
    print(
        f"{'planes':>7} {'raw MB':>8} {'RSS before MB':>14} {'peak RSS MB':>12} "
        f"{'growth MB':>10} {'seconds':>8} {'file MB':>8}"
    )
    for n, raw_mb, base_mb, peak_mb, seconds, file_mb in rows:
        print(
            f"{n:>7} {raw_mb:>8.1f} {base_mb:>14.1f} {peak_mb:>12.1f} "
            f"{peak_mb - base_mb:>10.1f} {seconds:>8.2f} {file_mb:>8.2f}"
        )
    first, last = rows[0], rows[-1]
    growth = (last[3] - last[2]) - (first[3] - first[2])
    if growth > 0.25 * (last[1] - first[1]) and last[1] > first[1]:
        print(f"FAIL: peak grew by {growth:.1f} MB for {last[1] - first[1]:.1f} MB more planes")
        return 1
    print("OK: peak memory does not grow with the number of planes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
