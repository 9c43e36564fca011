"""A soft limit of open files the system caps below an unlimited hard limit (macOS's).

macOS sets ``ulimit -n`` 256 with a hard limit it calls unlimited, and refuses a soft limit
past its own cap (``kern.maxfilesperproc``). A run that could not raise its soft limit to
all it wanted kept 256 and was refused quoting that as the most it may open, although a
few thousand files could have been had. It now raises the limit as far as the system lets
it, and a refusal says so. The OS limit cannot be changed so in a test: the ``resource``
calls are a stand-in with such a cap.
"""

from __future__ import annotations

import pytest

from harvester import openfiles
from harvester.errors import ConfigError

CAP = 1000  # the most the stand-in system lets the soft limit be
INFINITY = -1


class _CappedResource:
    """``resource`` of a system with soft 256, hard unlimited, soft limits past CAP refused."""

    RLIMIT_NOFILE = 7
    RLIM_INFINITY = INFINITY

    def __init__(self) -> None:
        self.soft = 256

    def getrlimit(self, which: int) -> tuple[int, int]:
        """The limits now."""
        return self.soft, INFINITY

    def setrlimit(self, which: int, limits: tuple[int, int]) -> None:
        """Refuse a soft limit past CAP, as macOS does (ValueError from Python there)."""
        if limits[0] > CAP:
            raise ValueError("current limit exceeds maximum limit")
        self.soft = limits[0]


@pytest.fixture
def capped(monkeypatch: pytest.MonkeyPatch) -> _CappedResource:
    """The stand-in ``resource`` module, in place of the real one."""
    fake = _CappedResource()
    monkeypatch.setattr(openfiles, "resource", fake)
    return fake


def test_a_run_that_fits_under_the_cap_is_raised_to_it(capped: _CappedResource) -> None:
    """--concurrency 800 wants 1056 files, the system allows 1000: raised to 1000 (192 beside
    its connections), the run goes on (it was refused, quoting 256)."""
    openfiles.fit_open_files(800)
    assert capped.soft == CAP


def test_a_refusal_quotes_the_most_the_system_allowed(capped: _CappedResource) -> None:
    """--concurrency 900 past the cap: the refusal quotes 1000 (not 256), says the limit was
    raised as far as the system let it, and its hint's --concurrency fits in 1000."""
    with pytest.raises(ConfigError) as refused:
        openfiles.fit_open_files(900)
    message = str(refused.value)
    assert "may open 1000 at most (ulimit -n, raised as far as the system let it)" in message
    assert "give --concurrency 808 or less" in (refused.value.hint or "")
    assert capped.soft == CAP


#: macOS's ``resource.RLIM_INFINITY``: the largest rlim_t CPython converts to.
MAC_INFINITY = 2**63 - 1


class _MacResource(_CappedResource):
    """macOS's ``resource``: the hard limit unlimited (2**63 - 1), a soft limit past CAP
    refused, and a value past rlim_t refused by CPython's conversion (OverflowError)."""

    RLIM_INFINITY = MAC_INFINITY

    def getrlimit(self, which: int) -> tuple[int, int]:
        """The limits now."""
        return self.soft, MAC_INFINITY

    def setrlimit(self, which: int, limits: tuple[int, int]) -> None:
        """As CPython's: OverflowError past rlim_t, then the system's cap."""
        if any(value > MAC_INFINITY for value in limits):
            raise OverflowError("Python int too large to convert to C long")
        super().setrlimit(which, limits)


def test_a_concurrency_past_any_limit_is_refused_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--concurrency 2**63 under macOS's unlimited hard limit: the soft limit it wants does
    not fit in an rlim_t (OverflowError, which escaped as a traceback); it is refused with
    the one-line error quoting the most the system allowed."""
    fake = _MacResource()
    monkeypatch.setattr(openfiles, "resource", fake)
    with pytest.raises(ConfigError) as refused:
        openfiles.fit_open_files(2**63)
    assert "may open 1000 at most (ulimit -n, raised as far as the system let it)" in str(
        refused.value
    )
    assert fake.soft == CAP
