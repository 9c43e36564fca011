"""Review of the head start (harvester.early): the cases around it that must not change.

A folder that holds a harvest gets no early request even when its ``harvest.json``
is missing (its journals say what is done); Ctrl-C while the probe and the early
requests are out is the usual exit 130; a server that cannot be reached ends the
run with the usual one line and writes nothing; a dry run sends no image request.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from harvest_helpers import content, harvest, spooled_copies, start_cli
from test_head_start import IDS, ArrivalLog, _emulator, _ids_file, harvest_thumbnails

from harvester.cli import main
from harvester.client import Expect
from harvester.early import EarlyAnswers
from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.http import Request, Response
from harvester.errors import FetchError, PermanentError


def test_no_head_start_into_a_harvest_without_its_marker(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A harvest folder whose harvest.json is gone (the store accepts it: its journals say
    what is done) is resumed without asking for any done thumbnail a second time."""
    emu, log = _emulator(make_emulator)
    out = tmp_path / "grow"
    first = harvest_thumbnails(emu, out, IDS[:5])
    assert first.exit_code == 0 and first.done == 5
    (out / "harvest.json").unlink()
    log.arrivals.clear()
    summary = harvest_thumbnails(emu, out, IDS[:12])
    assert summary.exit_code == 0 and summary.done == 7 and summary.skipped == 5
    assert sorted(log.thumbnail_requests()) == IDS[5:12]


def test_dry_run_sends_no_image_request(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """--dry-run with --ids-from: images counted, none of their artifacts asked for."""
    emu, log = _emulator(make_emulator)
    out = tmp_path / "dry"
    summary = harvest(
        emu.base_url,
        out,
        ids_from=_ids_file(tmp_path, IDS[:10]),
        artifacts=("thumbnail", "metadata"),
        concurrency=8,
        labels=False,
        dry_run=True,
    )
    assert summary.exit_code == 0 and summary.images == 10 and summary.pending == 20
    assert log.thumbnail_requests() == []
    assert not any("/m/images/" in p for _, p in log.arrivals)
    assert not out.exists()


def test_unreachable_server_is_one_line_and_writes_nothing(tmp_path: Path, capsys: object) -> None:
    """Nothing listens on the port: the probe fails (exit 2, one line), the early requests
    retrying their connection are dropped with it, and DIR is never created."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The port is closed now: connections are refused.
    out = tmp_path / "never"
    ids = _ids_file(tmp_path, IDS)
    code = main(
        ["harvest", "--base-url", f"http://127.0.0.1:{port}/", "--out", str(out)]
        + ["--ids-from", str(ids), "--artifacts", "thumbnail", "--concurrency", "4"]
        + ["--rate", "none", "--quiet"]
    )
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert code == 2, err
    assert "cannot reach" in err and "Traceback" not in err and "internal error" not in err
    assert not out.exists()


def test_ctrl_c_while_probe_and_early_requests_are_out(tmp_path: Path) -> None:
    """SIGINT while the probe and the head start wait for answers: exit 130, the resume
    line, no traceback, and DIR not created (nothing was written)."""
    out = tmp_path / "early"
    ids = _ids_file(tmp_path, IDS)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(30)
        port = listener.getsockname()[1]
        proc = start_cli(
            "harvest", "--base-url", f"http://127.0.0.1:{port}/", "--out", str(out),
            "--ids-from", str(ids), "--artifacts", "thumbnail", "--concurrency", "4",
            "--rate", "none", "--quiet",
        )  # fmt: skip
        accepted = []
        try:
            # The probe's connection and the run's (early requests, preconnect): 1 + 4.
            while len(accepted) < 5:
                conn, _addr = listener.accept()
                accepted.append(conn)
            time.sleep(0.2)
            proc.send_signal(signal.SIGINT)
            _stdout, stderr = proc.communicate(timeout=30)
        finally:
            for conn in accepted:
                conn.close()
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "interrupted before any file was harvested; run: harvester harvest" in stderr
    assert "Traceback" not in stderr
    assert not out.exists()


def test_tls_failing_server_is_one_line_and_writes_nothing(tmp_path: Path, capsys: object) -> None:
    """https:// to a server that answers in plain text: the probe's TLS failure is the one
    line (exit 2); the early requests' own TLS failures are dropped with the run."""
    out = tmp_path / "never"
    ids = _ids_file(tmp_path, IDS)
    stop = threading.Event()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(0.1)
        port = listener.getsockname()[1]

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _addr = listener.accept()
                except OSError:
                    continue
                with conn:
                    conn.settimeout(5)
                    try:
                        conn.recv(4096)  # the ClientHello
                        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    except OSError:
                        pass

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        try:
            code = main(
                ["harvest", "--base-url", f"https://127.0.0.1:{port}/", "--out", str(out)]
                + ["--ids-from", str(ids), "--artifacts", "thumbnail", "--concurrency", "4"]
                + ["--rate", "none", "--quiet"]
            )
        finally:
            stop.set()
            server.join(timeout=10)
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert code == 2, err
    assert "cannot reach" in err and "TLS" in err, err
    assert "Traceback" not in err and "internal error" not in err
    assert err.count("error:") == 1
    assert not out.exists()


# ------------------------------------------------------------- EarlyAnswers on its own
class _Answer:
    def __init__(self, path: str) -> None:
        self.body = path.encode()


class _SlowClient:
    """Answers each path after ``delay`` seconds (never, if None); or raises ``error``."""

    def __init__(self, delay: float | None, error: FetchError | None = None) -> None:
        self.delay = delay
        self.error = error
        self.started: list[str] = []

    async def get(self, path: str, expect: Expect, check: object = None) -> _Answer:
        self.started.append(path)
        if self.delay is None:
            await anyio.sleep_forever()
        await anyio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return _Answer(path)


@pytest.mark.anyio
async def test_unanswered_within_its_limit_is_dropped() -> None:
    """A request sent ``within`` a time limit that passes unanswered is dropped: the taker
    gets nothing (and sends its own request), nothing is held."""
    early = EarlyAnswers()
    client = _SlowClient(delay=None)
    async with anyio.create_task_group() as tg:
        assert early.send(tg, client, [("a/", Expect.JSON, None)], within=0.05) == 1  # type: ignore[arg-type]
        assert await early.take("a/") is None
        assert len(early) == 0
    assert client.started == ["a/"]


@pytest.mark.anyio
async def test_lifted_limit_lets_the_request_finish() -> None:
    """Once the server has answered the probe, the early requests run to their end."""
    early = EarlyAnswers()
    client = _SlowClient(delay=0.2)
    async with anyio.create_task_group() as tg:
        early.send(tg, client, [("a/", Expect.JSON, None)], within=0.05)  # type: ignore[arg-type]
        early.lift_time_limits()
        answer = await early.take("a/")
    assert answer is not None and answer.body == b"a/"


@pytest.mark.anyio
async def test_an_early_failure_is_raised_once() -> None:
    """A request's final error is raised to its taker once; a second take finds nothing."""
    early = EarlyAnswers()
    client = _SlowClient(delay=0, error=PermanentError("gone", url="a/", status=404))
    async with anyio.create_task_group() as tg:
        early.send(tg, client, [("a/", Expect.JSON, None)])  # type: ignore[arg-type]
        with pytest.raises(PermanentError):
            await early.take("a/")
        assert await early.take("a/") is None


class _BusyAtFirst(ArrivalLog):
    """The first ``busy`` thumbnail requests are answered 503 (a server under load)."""

    def __init__(self, app: object, busy: int) -> None:
        super().__init__(app)
        self.busy = busy

    def handle(self, req: Request) -> Response:
        answer = super().handle(req)
        if "render_thumbnail" in req.path:
            with self._lock:
                if self.busy > 0:
                    self.busy -= 1
                    return Response(503, b"busy", "text/plain")
        return answer


def test_overload_during_the_head_start_slows_the_run_down(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """503s to the early requests slow the run's shared limiter down (they are the run's
    own requests); their retries then succeed and nothing is lost or asked for twice
    beyond the retries."""
    log = _BusyAtFirst(build_application("huge"), busy=3)
    emu = make_emulator(app=log, latency_ms=100)
    summary = harvest(
        emu.base_url,
        tmp_path / "busy",
        ids_from=_ids_file(tmp_path, IDS[:12]),
        artifacts=("thumbnail",),
        concurrency=4,
        labels=False,
    )
    assert summary.exit_code == 0 and summary.done == 12
    assert summary.slowdowns >= 1 and summary.retries == 3
    assert sorted(set(log.thumbnail_requests())) == IDS[:12]
    assert len(log.thumbnail_requests()) == 12 + 3
    assert emu.stats()["peak_concurrency"] <= 4


def test_no_head_start_with_an_image_target_or_a_sample(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """--image beside --ids-from (its existence check is its metadata, held for the fetcher)
    and --sample (which ids are kept is known only after the walk) send nothing early; each
    image's metadata is asked for once."""
    emu, log = _emulator(make_emulator)
    ids = _ids_file(tmp_path, IDS[1:8])
    mixed = harvest(
        emu.base_url,
        tmp_path / "mixed",
        images=(IDS[0],),
        ids_from=ids,
        artifacts=("thumbnail", "metadata"),
        concurrency=4,
        labels=False,
    )
    assert mixed.exit_code == 0 and mixed.done == 2 * 8
    assert log.early_thumbnails() == []
    paths = [p for _, p in log.arrivals]
    assert all(paths.count(f"/api/v0/m/images/{i}/") == 1 for i in IDS[:8])
    log.arrivals.clear()
    sampled = harvest(
        emu.base_url,
        tmp_path / "sampled",
        ids_from=ids,
        artifacts=("thumbnail",),
        concurrency=4,
        labels=False,
        sample=3,
    )
    assert sampled.exit_code == 0 and sampled.done == 3
    assert log.early_thumbnails() == []
    assert len(log.thumbnail_requests()) == 3


def _feed_fifo(path: Path, text: str) -> threading.Event:
    """A FIFO at ``path`` that the first reader reads ``text`` from (like ``<(cmd)``); any
    later reader gets end-of-file at once instead of blocking the test forever. Set the
    returned event to stop."""
    os.mkfifo(path)
    stop = threading.Event()

    def feed() -> None:
        with path.open("w", encoding="utf-8") as pipe:  # blocks until the harvest opens it
            pipe.write(text)
        while not stop.wait(0.02):
            # Opens only while a reader waits in open(), which then reads nothing.
            with contextlib.suppress(OSError):
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))

    threading.Thread(target=feed, daemon=True).start()
    return stop


def test_ids_from_a_pipe_is_read_once_and_harvested_whole(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], spool_dir: Path
) -> None:
    """--ids-from <(cmd): a pipe can be read once, but the run reads its ids file for the
    check, the head start and the walk. Every id is harvested, and the temporary copy is
    gone afterwards (none in DIR either)."""
    emu = make_emulator(preset="huge")
    fifo = tmp_path / "ids.fifo"
    feeder = _feed_fifo(fifo, "# from a pipe\n" + "".join(f"{i}\n" for i in IDS[:12]))
    out = tmp_path / "piped"
    summary = harvest(
        emu.base_url, out, ids_from=fifo, artifacts=("thumbnail",), concurrency=4, labels=False
    )
    feeder.set()
    assert summary.exit_code == 0 and summary.images == 12 and summary.done == 12
    assert len(content(out, "images")) == 12
    assert spooled_copies(spool_dir) == set()
    assert not any("harvester-ids-" in p.name for p in out.rglob("*"))


def test_a_junk_line_in_a_pipe_is_named_and_nothing_is_written(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    capsys: pytest.CaptureFixture[str],
    spool_dir: Path,
) -> None:
    """A junk line in an ids pipe is named, exit 2, with nothing written, spooled or asked."""
    emu = make_emulator(preset="huge")
    fifo = tmp_path / "ids.fifo"
    feeder = _feed_fifo(fifo, f"{IDS[0]}\n{IDS[1]}\nbanana\n")
    out = tmp_path / "never"
    code = main(
        ["harvest", "--base-url", emu.base_url, "--out", str(out), "--ids-from", str(fifo)]
        + ["--artifacts", "thumbnail", "--rate", "none", "--quiet"]
    )
    feeder.set()
    err = capsys.readouterr().err
    assert code == 2 and "line 3: 'banana' is not an image id" in err and "Traceback" not in err
    assert not out.exists()
    assert spooled_copies(spool_dir) == set()
    assert emu.stats()["requests"] == 0


def test_ids_from_standard_input(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`... | harvester harvest --ids-from -`: the ids come from standard input."""
    emu = make_emulator(preset="huge")
    out = tmp_path / "stdin"
    ids = "".join(f"{i}\n" for i in IDS[:6])
    proc = subprocess.run(
        [sys.executable, "-m", "harvester", "harvest", "--base-url", emu.base_url]
        + ["--out", str(out), "--ids-from", "-", "--artifacts", "thumbnail", "--no-labels"]
        + ["--rate", "none", "--quiet"],
        input=ids,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert proc.returncode == 0, proc.stderr
    assert len(content(out, "images")) == 6
