"""Noticing that the session or credentials a run sent stopped working, so that it stops.

An OMERO session (``?bsession=KEY``, a ``sessionid`` cookie, a token in a header) expires.
OMERO.web then answers every login-required view as it answers an anonymous one: the JSON
API with 403 ``{"message": "Not logged in"}``, webgateway and webclient views with an empty
403. A token or password a proxy in front of OMERO.web checks (HTTP Basic, ``TOKEN@host``)
expires or is changed too: the proxy then answers 401 to everything. A run that went on
asked for every image left, each refused, until the give-up rule (identical failures in a
row, per kind) stopped one kind at a time; its failures read as images that are not
public, and the images it never reached looked failed too. A walk fared worse: every
listing left failed in turn, and no give-up rule watches listings.

:class:`SessionWatch` counts refusals in a row, of files and listings alike, each status
(403, 401) on its own; an answer, or a failure of another status, ends the count, but a 404,
which says nothing of the session (a path not resolved answers it before any session
check), or no answer at all (timeouts, resets through the retries: no more said). After
:data:`CHECK_AFTER` of them it asks once:

* 403 (a run that sent a session): the JSON API, for the image last refused (for a listing,
  the first screen): "Not logged in" there means the server knows no session of this run
  (a logged-in user asking for an image it may not see gets a 404), so the session ended;
* 401 (a run that sent credentials): the API root, which answered at the start of the run
  (the server check): a 401 there too means the credentials are refused everywhere now.
  OMERO.web itself never answers 401; a proxy asking for HTTP auth under some paths only
  (``/webgateway/``) answers ``api/`` as before, and the 401s are those paths' own.

Either stops the run through ``on_ended``. Any other answer means the refusals were the
objects' (or the paths') own: the watch carries on, and checks again only after twice as
many in a row, so a folder of private images costs few extra requests; but never after
more than half the give-up rule's count (:data:`CHECK_AT_MOST`): doubling without end, a
long run with a few private folders came to check only after more refusals than the
give-up rule waits for, and a session ending later went unnoticed (each kind given up in
turn, the images left counted failed). While a check is asked, the refusals told wait
for its verdict (bounded: :data:`CHECK_WAIT_AT_MOST`), so that a run whose session ended
is refused about once per request it had in flight, not as many times as its workers
could send requests while the check was on its way.

The lookups made before the walk and the fetch (the targets' check, ``--image`` ids, the
listing that turns screen names into ids) are watched too, from their first refusal
(:meth:`SessionWatch.ended_at_start`): a run whose session had ended before it began said
"the server refused screen 1" instead. A walk holds its listings' watched refusals back
until the watch has judged them (:meth:`harvester.walk.Walker._fail`), so that a session
ending mid-walk is said once, by the run's error, not first by every listing in flight.

Only a run that sent credentials has any to lose: a public run sends nothing, and its 401s
and 403s are failures as before (the watch is not used). A ``user:password@`` URL is a
login, not a session (:attr:`harvester.config.HarvestConfig.sends_session`): its 403s are
the images' own, its 401s are watched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio

from harvester import urls
from harvester.client import Client, Expect
from harvester.errors import FetchError, SessionEndedError, with_status

logger = logging.getLogger(__name__)

#: Refusals in a row that make the watch ask whether the session has ended: more than one
#: (a private image among public ones), few enough that a run whose session ended sends
#: about as many requests more as it has in flight.
CHECK_AFTER = 3

#: The most refusals in a row the watch waits for before it asks, however many checks
#: found the session alive: half the give-up rule's 20 identical failures in a row
#: (:data:`harvester.config.DEFAULT_GIVE_UP_AFTER`; a run passes its own), so that a
#: session ending late in a long run is noticed before the kinds are given up one by one.
CHECK_AT_MOST = 10

#: The longest, in seconds, a refusal told while a check is asked waits for its verdict
#: before its worker goes on: a check answers in a round trip; one slow to answer, or
#: retried, does not hold the run's workers for as long as its retries may take.
CHECK_WAIT_AT_MOST = 60.0

#: OMERO.web's JSON API answer to a login-required view without a session (403): the
#: words a private server, or an ended session, gives and a private object does not.
NOT_LOGGED_IN = "Not logged in"

#: The statuses the watch counts: an ended session's (403), refused credentials' (401).
SESSION_ENDED = 403
CREDENTIALS_REFUSED = 401
#: The failure that neither counts nor ends a count: a path not resolved answers it before
#: any session check, whether the session lives or not (as a failure with no answer).
NOT_FOUND = 404


def check_at_most(give_up_after: int) -> int:
    """The watch's ``at_most`` for a run whose give-up rule stops a kind after
    ``give_up_after`` identical failures in a row: half of it (at least :data:`CHECK_AFTER`),
    so that the check comes before the rule stops the kinds, also when the count of a kind
    had already begun with images of its own refused when the session ended."""
    return max(CHECK_AFTER, min(CHECK_AT_MOST, give_up_after // 2))


#: What to do after a stop because the session a run sent ended, before the step that follows
#: (``then resume``, ``then run `harvester plan` again``): every place a session can be given.
SESSION_AGAIN = (
    "log in to OMERO.web again and give the new session key where this run gave the old one "
    "(?bsession=KEY at the end of --base-url, https://TOKEN@HOST/ for a token a proxy takes "
    'as the user, or a config file\'s [cookies] sessionid = "KEY" or its [headers])'
)

#: What to do after a stop because the server refused the credentials sent (401 everywhere,
#: a proxy's): a token expired or a password changed; no login to OMERO.web.
CREDENTIALS_AGAIN = (
    "renew the token or password this run sent (one expired, or was changed or revoked) and "
    "give the new one where this run gave the old (in --base-url as https://TOKEN@HOST/ or "
    "https://USER:PASSWORD@HOST/, or a config file's base_url or [headers])"
)


def stopped_text(status: int, reason: str) -> str:
    """The start of the ``error:`` line of a command stopped by the watch (``status``, the
    ``reason`` it was given): what the server answered; the command says what it kept."""
    if status == CREDENTIALS_REFUSED:
        return f"the server no longer takes the credentials this run sent ({reason})"
    return f"the session this run sent has ended ({reason})"


def again_hint(status: int) -> str:
    """What to do after a stop by the watch (``status``), before the step that follows."""
    return CREDENTIALS_AGAIN if status == CREDENTIALS_REFUSED else SESSION_AGAIN


class SessionWatch:
    """Stops a run whose session ended or whose credentials stopped working (see the
    module docstring).

    ``on_ended(status, reason)`` is called once: ``status`` 403 (the session ended) or 401
    (the credentials are refused), ``reason`` the check's answer (``HTTP 403 Forbidden: Not
    logged in ...``); the run stops as an interruption does. ``session``: the run sent a
    session, so its 403s are watched (a run without one has none to lose). ``after``: the
    refusals in a row before the first check; ``at_most``: before any later one (see
    :func:`check_at_most`); ``wait_at_most``: how long a refusal told while a check is
    asked waits for its verdict (:meth:`_await_verdict`). Used by one event loop's tasks,
    which it never blocks beyond the one check it sends.

    Each watched status keeps its own count and its own wait: a check that found the
    session alive after 403s (private images) says nothing of the credentials a proxy
    takes, so it doubles the 403s' wait alone, and a token expiring next is still checked
    after :data:`CHECK_AFTER` 401s (they shared one count, and the 401s waited as long as
    the 403s had come to). A refusal of the other watched status does not end a count:
    both are refusals of what the run sent.
    """

    def __init__(
        self,
        client: Client,
        on_ended: Callable[[int, str], None],
        *,
        session: bool = True,
        after: int = CHECK_AFTER,
        at_most: int = CHECK_AT_MOST,
        wait_at_most: float = CHECK_WAIT_AT_MOST,
    ) -> None:
        self.client = client
        self.on_ended = on_ended
        watched = (SESSION_ENDED, CREDENTIALS_REFUSED) if session else (CREDENTIALS_REFUSED,)
        self._at_most = max(after, at_most)
        self._after = dict.fromkeys(watched, after)  # refusals in a row before a check, per status
        self._refused = dict.fromkeys(watched, 0)  # refusals in a row so far, per status
        #: Which run of refusals in a row of each status the count is in (for :meth:`verdict`).
        self._streak = dict.fromkeys(watched, 0)
        self._ended_by: tuple[int, int] | None = None  # (status, streak) that ended the run
        #: Set once the check in flight has said (None: no check in flight).
        self._verdict: anyio.Event | None = None
        #: The longest a refusal told while a check is asked waits for its verdict.
        self.wait_at_most = wait_at_most
        #: Why the run stopped (the check's answer); empty while the session lives.
        self.ended = ""

    def watches(self, status: int | None) -> bool:
        """Whether a failure with ``status`` counts towards a check (a watched refusal)."""
        return status in self._refused

    def streak(self, status: int) -> int:
        """The run of refusals in a row of ``status`` that a refusal told now joins."""
        return self._streak.get(status, 0)

    def verdict(self, status: int, streak: int) -> bool | None:
        """What the refusals of ``streak`` (of ``status``) were: True, the end of what this
        run sent (they stopped the run); False, their own (the count ended: an answer, a
        failure that is no watched refusal, or a check that found the session alive);
        None, not known yet (the count goes on)."""
        if self._ended_by == (status, streak):
            return True
        if streak != self._streak.get(status):
            return False
        return None

    def answered(self) -> None:
        """A file or a listing came: the session lives, the refusals so far were their own."""
        for status in self._refused:
            self._reset(status)

    def _reset(self, status: int) -> None:
        """End the count of ``status``'s refusals in a row (once it has begun)."""
        if self._refused[status] and self._ended_by is None:
            self._refused[status] = 0
            self._streak[status] += 1

    async def failed(self, status: int | None, check: str) -> None:
        """A file or a listing failed for good with ``status``. A watched refusal counts
        towards the check of its status, any other failure ends the counts (an ended
        session answers 403 to everything, a proxy refusing the credentials 401), but a
        404 (:data:`NOT_FOUND`) or no answer at all (None), which leave them as they are.
        ``check``: the JSON API path asked of a 403 (the image's metadata; for a listing,
        one that any session sees)."""
        if status == NOT_FOUND:
            # A path the server (or a front end) does not resolve answers 404 before any
            # session check: an ended session gets it too. Ending the counts on it, a file
            # the server never serves (a sized thumbnail where only 96 px ones are) between
            # each two refusals kept the check from ever being asked: the refused images
            # were counted failed until the give-up rule stopped the 404s' kind.
            return
        if status is None:
            # No answer at all (timeouts, resets through the retries): it says no more about
            # the session than a 404 does. Ending the counts on it, a file that timed out
            # between each two refusals of an ended session kept the check from being asked.
            return
        if status not in self._refused:
            self.answered()  # (not an answer, but no refusal of what the run sent either)
            return
        self._refused[status] += 1
        if self.ended:
            return
        if self._verdict is not None:
            await self._await_verdict(self._verdict)
            return
        if self._refused[status] < self._after[status]:
            return
        # The run of refusals the check judges: an answer told while it is asked ends the
        # count, and the refusals after that answer are none of those it judges.
        streak = self._streak[status]
        # One check at a time: the other workers' refusals wait for its verdict.
        verdict = self._verdict = anyio.Event()
        try:
            if status == CREDENTIALS_REFUSED:
                reason = await self._refused_everywhere()
            else:
                reason = await self._not_logged_in(check)
            if reason:
                self._end(status, reason, streak)
            else:
                logger.debug(
                    "%d refusals in a row, the session lives: their own", self._refused[status]
                )
                self._reset(status)
                self._after[status] = min(self._after[status] * 2, self._at_most)
        finally:
            # Also when the check was cancelled or failed: no waiter waits for nothing.
            self._verdict = None
            verdict.set()

    async def _await_verdict(self, verdict: anyio.Event) -> None:
        """Wait for the verdict of the check in flight, at most :attr:`wait_at_most`.

        A worker told it right back sent its next request at once, refused too while the
        session had ended: how many more were refused depended on how long the check took
        and how the tasks were scheduled (up to 13 in all in a walk of four listings at a
        time, on a loaded machine). Waiting, each worker is refused once at most while the
        check is asked, and the run stops (``on_ended`` cancels the waiters) before it
        sends another: 7 in all in that walk (the 3 that start the check, one per other
        listing, and the check's own). The waiters hold no concurrency slot (their request
        is over when they are told), so the check gets one even at ``--concurrency 1``.
        Past the bound (a check slow to answer, or retried) they go on as before, the count
        kept, and the verdict still stops the run.
        """
        with anyio.move_on_after(self.wait_at_most) as waited:
            await verdict.wait()
        if waited.cancelled_caught:
            logger.debug(
                "the session check has not said after %.0fs: going on without its verdict",
                self.wait_at_most,
            )

    def _end(self, status: int, reason: str, streak: int) -> None:
        """Stop the run: what it sent (``status``'s kind) no longer opens the server, as
        the check of the refusals of ``streak`` (:meth:`verdict`) found."""
        if self.ended:
            return
        self.ended = reason
        self._ended_by = (status, streak)
        logger.debug("what this run sent no longer opens the server (%s): stopping", reason)
        self.on_ended(status, reason)

    async def ended_at_start(self, exc: FetchError) -> str:
        """A lookup made before the walk and the fetch (a target's check, the listing of a
        name's screens) was refused with ``exc``: the answer that shows what the run sent
        no longer opens the server ("" when it is the refusal's own, or not watched).

        One refusal is enough here: these lookups ask the JSON API for targets the user
        named, so a 403 "Not logged in" is the check's own answer (a logged-in user asking
        for an object it may not see gets a 404), with no request more; a 401 asks
        ``api/`` once, as the check does. Without it, a run whose session had ended before
        it began said "the server refused screen 1" or "cannot list the screens", not why."""
        status = exc.status
        if status is None or status not in self._refused:
            return ""
        if status == CREDENTIALS_REFUSED:
            return await self._refused_everywhere()
        return with_status(status, exc.reason) if NOT_LOGGED_IN in exc.reason else ""

    async def _not_logged_in(self, path: str) -> str:
        """The JSON API's answer at ``path`` when it is "Not logged in" ("" otherwise:
        it came, or was refused or not found for a reason of its own)."""
        try:
            await self.client.get(path, Expect.JSON)
        except FetchError as exc:
            if exc.status == SESSION_ENDED and NOT_LOGGED_IN in exc.reason:
                return with_status(exc.status, exc.reason)
        return ""

    async def _refused_everywhere(self) -> str:
        """The API root's answer when it is a 401 too ("" otherwise): it answered the
        server check with these credentials, so a 401 there now is theirs, not a path's."""
        try:
            await self.client.get(urls.api_root(), Expect.JSON)
        except FetchError as exc:
            if exc.status == CREDENTIALS_REFUSED:
                return f"api/ answered {with_status(exc.status, exc.reason)}"
        return ""


async def raise_if_ended(watch: SessionWatch | None, exc: FetchError) -> None:
    """Raise :class:`~harvester.errors.SessionEndedError` when ``exc``, the refusal of a
    lookup made before the walk and the fetch, shows that what the run sent no longer
    opens the server (:meth:`SessionWatch.ended_at_start`); return otherwise, for the
    lookup's own error. ``watch`` None: a public run, which asks nothing more."""
    if watch is None or exc.status is None:
        return
    reason = await watch.ended_at_start(exc)
    if reason:
        status = exc.status
        raise SessionEndedError(
            f"{stopped_text(status, reason)}: stopped asking for more",
            status=status,
            reason=reason,
            hint=f"{again_hint(status)}, then run the same command again",
        )
