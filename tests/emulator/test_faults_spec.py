"""Fault spec parsing and the seeded decisions, without sockets."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import pytest

from harvester.emulator.faults import FaultInjector, FaultSpec, parse_faults
from harvester.emulator.stats import Stats, is_image_request


def test_full_spec_parses() -> None:
    """Every item of the documented grammar parses into the expected values."""
    spec = parse_faults(
        "503:5%,429:3%,reset:2%,truncate:2%,html200:1%,latency:20ms,jitter:10ms,seed:7,"
        "retry-after:2s|date,trickle:1%,exception:1%,maintenance:10s@5s,ratelimit:5/s,"
        "500:0.01,502:1%,504:1%,trickle-delay:5ms,only:/webgateway/|/api/"
    )
    assert spec.rate("503") == pytest.approx(0.05)
    assert spec.rate("500") == pytest.approx(0.01)
    assert spec.rate("exception") == pytest.approx(0.01)
    assert spec.latency_s == pytest.approx(0.02)
    assert spec.jitter_s == pytest.approx(0.01)
    assert spec.seed == 7
    assert spec.retry_after_s == 2
    assert spec.retry_after_forms == ("seconds", "date")
    assert spec.maintenance == (5.0, 10.0)
    assert spec.ratelimit == 5
    assert spec.trickle_delay_s == pytest.approx(0.005)
    assert spec.only == ("/webgateway/", "/api/")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("503:5", "503:5"),  # 5 = 500% as a fraction
        ("404:5%", "404:5%"),
        ("latency:fast", "latency:fast"),
        ("ratelimit:5", "ratelimit:5"),
        ("retry-after:soon", "retry-after:soon"),
        ("503:60%,500:60%", "100%"),
        ("seed:x", "seed:x"),
        ("reset", "reset"),
        # a bare word names the known items, as an unknown name does (it said only
        # "expected name:value")
        ("nonsense", "expected name:value, e.g. 503:5% (known names: 500, 502, 503"),
        ("only:|", "only:|"),
        ("first:boom", "first:boom"),
        ("first:html200*0", "first:html200*0"),
        ("first:html200*x", "first:html200*x"),
        ("first:html200*20000", "first:html200*20000"),
        ("first:html200*\u00b2", "first:html200*\u00b2"),  # a digit to isdigit(), not to int()
        ("first:html200*10000000000000000000000", "more than 10000 answers"),
        ("first:ok*9999|html200*2", "more than 10000 answers"),
        ("first:ok|hold", "no hold:NAME"),
        ("first:hold+503", "no hold:NAME"),
        ("first:hold+boom,hold:g", "first:hold+boom"),
        ("hold:a/b", "hold:a/b"),
        ("hold:x,hold-timeout:0", "hold-timeout"),
    ],
)
def test_bad_specs_name_the_item(text: str, needle: str) -> None:
    """A malformed spec raises ValueError with a one-line message naming the bad item."""
    with pytest.raises(ValueError) as info:
        parse_faults(text)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_empty_spec_is_inactive() -> None:
    """No spec, "" and "none" mean no faults at all."""
    for text in (None, "", "none"):
        assert not parse_faults(text).active
    assert FaultInjector(FaultSpec()).decide("/x/", "1.2.3.4").kind is None


def test_cli_latency_overrides_spec() -> None:
    """--latency-ms/--jitter-ms override the spec's latency items."""
    spec = parse_faults("latency:5ms").with_latency(30, None)
    assert spec.latency_s == pytest.approx(0.03)
    with pytest.raises(ValueError):
        spec.with_latency(-1, None)


def test_decisions_are_seeded() -> None:
    """Same seed and request order give the same faults; another seed gives others."""
    spec = parse_faults("503:20%,reset:20%,truncate:20%,jitter:10ms,seed:3")

    def run(s: FaultSpec) -> list[tuple[str | None, float]]:
        inj = FaultInjector(s)
        return [(d.kind, d.delay_s) for d in (inj.decide("/a/", "c", 0.0) for _ in range(200))]

    first = run(spec)
    assert first == run(spec)
    assert first != run(parse_faults("503:20%,reset:20%,truncate:20%,jitter:10ms,seed:4"))
    kinds = [k for k, _ in first]
    assert 20 < kinds.count("503") < 60
    assert all(0.0 <= d <= 0.01 for _, d in first)


def test_reset_restarts_sequence() -> None:
    """FaultInjector.reset() replays the same decisions from the start."""
    inj = FaultInjector(parse_faults("503:50%,seed:1"))
    before = [inj.decide("/a/", "c", 0.0).kind for _ in range(30)]
    inj.reset()
    assert [inj.decide("/a/", "c", 0.0).kind for _ in range(30)] == before


def test_exception_only_on_imgdata_and_only_filter() -> None:
    """exception faults hit imgData paths only; only: keeps faults off other paths."""
    inj = FaultInjector(parse_faults("exception:100%"))
    assert inj.decide("/webgateway/imgData/1/", "c", 0.0).kind == "exception"
    assert inj.decide("/webgateway/render_image/1/0/0/", "c", 0.0).kind is None
    inj = FaultInjector(parse_faults("503:100%,latency:10ms,only:/api/"))
    other = inj.decide("/webclient/api/plates/", "c", 0.0)
    assert other.kind is None
    assert other.delay_s == pytest.approx(0.01)
    assert inj.decide("/api/v0/m/screens/", "c", 0.0).kind == "503"
    inj = FaultInjector(parse_faults("503:100%,only:image*|imgData"))
    assert inj.decide("/x/", "c", 0.0, route="image:thumbnail").kind == "503"
    assert inj.decide("/x/", "c", 0.0, route="imgData").kind == "503"
    assert inj.decide("/x/", "c", 0.0, route="plates").kind is None


def test_first_scripts_the_first_answers_in_order() -> None:
    """first: gives the first requests only: lets through its kinds in order (ok: the real
    answer), then the random rates decide; reset() replays the script."""
    inj = FaultInjector(parse_faults("first:truncate|html200*2|ok|503,503:100%,only:/api/"))
    kinds = [inj.decide(path, "c", 0.0).kind for path in ("/api/", "/x/", "/api/", "/api/")]
    assert kinds == ["truncate", None, "html200", "html200"]
    assert [inj.decide("/api/", "c", 0.0).kind for _ in range(3)] == [None, "503", "503"]
    inj.reset()
    assert inj.decide("/api/", "c", 0.0).kind == "truncate"
    quiet = FaultInjector(parse_faults("first:html200"))
    assert [quiet.decide("/a/", "c", 0.0).kind for _ in range(3)] == ["html200", None, None]
    assert parse_faults("first:html200").active


def test_maintenance_window_bounds() -> None:
    """The maintenance window answers 503 exactly between its start and its end."""
    inj = FaultInjector(parse_faults("maintenance:10s@5s"), started=100.0)
    assert inj.decide("/a/", "c", 104.9).kind is None
    inside = inj.decide("/a/", "c", 105.0)
    assert inside.kind == "maintenance"
    assert inside.retry_after == "10"
    assert inj.decide("/a/", "c", 114.9).kind == "maintenance"
    assert inj.decide("/a/", "c", 115.0).kind is None


def test_ratelimit_is_per_client_sliding_second() -> None:
    """Past N served requests in the last second a client gets 429; others are unaffected."""
    inj = FaultInjector(parse_faults("ratelimit:2/s"))
    assert [inj.decide("/a/", "A", t).kind for t in (0.0, 0.1, 0.2)] == [None, None, "ratelimit"]
    assert inj.decide("/a/", "B", 0.3).kind is None
    assert inj.decide("/a/", "A", 1.05).kind is None  # the 0.0 arrival left the window
    assert inj.decide("/a/", "A", 1.06).kind == "ratelimit"


def test_retry_after_forms() -> None:
    """429 decisions carry Retry-After in seconds, as an HTTP-date, or a mix of both."""
    seconds = FaultInjector(parse_faults("429:100%,retry-after:3s")).decide("/a/", "c", 0.0)
    assert seconds.retry_after == "3"
    date = FaultInjector(parse_faults("429:100%,retry-after:date")).decide("/a/", "c", 0.0)
    assert date.retry_after is not None
    assert parsedate_to_datetime(date.retry_after).tzinfo is not None
    mixed = FaultInjector(parse_faults("429:100%,retry-after:2s|date,seed:1"))
    values = {mixed.decide("/a/", "c", 0.0).retry_after for _ in range(40)}
    assert "2" in values
    assert any(v is not None and v.endswith("GMT") for v in values)


def test_stats_peaks_with_a_fake_clock() -> None:
    """peak_rate_1s = arrivals in the busiest 1-s window; peak_concurrency = most in flight."""
    stats = Stats()
    for t in (0.0, 0.5, 0.9, 1.6, 1.7, 1.8, 1.85):
        stats.begin("A" if t < 1.7 else "B", now=t)
    for _ in range(7):
        stats.end("json", 200, "/json/")
    snap = stats.snapshot()
    assert snap["peak_rate_1s"] == 5  # 0.9, 1.6, 1.7, 1.8, 1.85
    assert snap["peak_rate_1s_by_client"] == {"A": 3, "B": 3}
    assert snap["peak_concurrency"] == 7
    assert snap["in_flight"] == 0
    assert snap["by_route"] == {"json": {"200": 7}}


def test_image_request_classifier() -> None:
    """Requests naming an image id are counted as image requests; listings are not."""
    for path in (
        "/webgateway/render_thumbnail/1/96/",
        "/webclient/render_thumbnail/size/96/1/",
        "/webgateway/render_image_region/1/0/0/",
        "/webclient/render_image/1/0/0/",
        "/webgateway/imgData/1/",
        "/webgateway/get_thumbnails/",
        "/api/v0/m/images/1/",
    ):
        assert is_image_request(path), path
    for path in ("/api/v0/m/images/", "/webclient/api/images/", "/webgateway/plate/1/0/"):
        assert not is_image_request(path), path


def test_concurrency_only_on_imgdata_and_scriptable() -> None:
    """concurrency faults hit imgData paths only, and first: can script them."""
    inj = FaultInjector(parse_faults("concurrency:100%"))
    assert inj.decide("/webclient/imgData/1/", "c", 0.0).kind == "concurrency"
    assert inj.decide("/webgateway/render_thumbnail/1/", "c", 0.0).kind is None
    scripted = FaultInjector(parse_faults("first:concurrency*2|ok"))
    kinds = [scripted.decide("/webclient/imgData/1/", "c", 0.0).kind for _ in range(3)]
    assert kinds == ["concurrency", "concurrency", None]
