"""Noticing that the session a run sent has ended, so that the run stops asking.

An OMERO session (``?bsession=KEY``, a ``sessionid`` cookie, a token in a header) expires.
OMERO.web then answers every login-required view as it answers an anonymous one: the JSON
API with 403 ``{"message": "Not logged in"}``, webgateway and webclient views with an empty
403. A run that went on asked for every image left, each refused, until the give-up rule
(identical failures in a row, per kind) stopped one kind at a time; its failures read as
images that are not public, and the images it never reached looked failed too.

:class:`SessionWatch` counts refusals (403) in a row. After :data:`CHECK_AFTER` of them it
asks the JSON API for the image last refused, once: "Not logged in" there means the server
knows no session of this run (a logged-in user asking for an image it may not see gets a
404), so the session has ended and ``on_ended`` stops the run. Any other answer means the
refusals were the images' own: the watch carries on, and checks again only after twice as
many in a row, so a folder of private images costs few extra requests.

Only a run that sent a session has one to lose
(:attr:`harvester.config.HarvestConfig.sends_session`): a password in the
URL (HTTP Basic auth, a proxy's) does not expire mid-run, and a public run sends nothing;
for those the watch is not used and their 403s are failures as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from harvester import urls
from harvester.client import Client, Expect
from harvester.errors import FetchError, with_status

logger = logging.getLogger(__name__)

#: Refusals in a row that make the watch ask whether the session has ended: more than one
#: (a private image among public ones), few enough that a run whose session ended sends
#: about as many requests more as it has in flight.
CHECK_AFTER = 3

#: OMERO.web's JSON API answer to a login-required view without a session (403): the
#: words a private server, or an ended session, gives and a private object does not.
NOT_LOGGED_IN = "Not logged in"


class SessionWatch:
    """Stops a run whose session ended (see the module docstring).

    ``on_ended(reason)`` is called once, with the check's answer as the reason (``HTTP
    403 Forbidden: Not logged in ...``): the run stops as an interruption does. Used by one
    event loop's tasks, which it never blocks beyond the one check it sends.
    """

    def __init__(
        self, client: Client, on_ended: Callable[[str], None], *, after: int = CHECK_AFTER
    ) -> None:
        self.client = client
        self.on_ended = on_ended
        self._after = after
        self._refused = 0
        self._checking = False
        #: Why the run stopped (the check's answer); empty while the session lives.
        self.ended = ""

    def answered(self) -> None:
        """A file came: the session lives, the refusals so far were the images' own."""
        self._refused = 0

    async def failed(self, image_id: int, status: int | None) -> None:
        """One artifact of ``image_id`` failed for good with ``status``: a 403 counts
        towards the check, any other failure ends the count (an ended session answers
        403 to everything)."""
        if status != 403:
            self._refused = 0
            return
        self._refused += 1
        if self._refused < self._after or self._checking or self.ended:
            return
        self._checking = True  # one check at a time: the other workers' 403s wait for it
        try:
            reason = await self._not_logged_in(image_id)
        finally:
            self._checking = False
        if reason:
            self.ended = reason
            logger.debug("the session this run sent has ended (%s): stopping", reason)
            self.on_ended(reason)
        else:
            logger.debug("%d refusals in a row, the session lives: the images' own", self._refused)
            self._refused = 0
            self._after *= 2

    async def _not_logged_in(self, image_id: int) -> str:
        """The JSON API's answer for ``image_id`` when it is "Not logged in" ("" otherwise:
        the image came, or was refused or not found for a reason of its own)."""
        try:
            await self.client.get(urls.image_metadata(image_id), Expect.JSON)
        except FetchError as exc:
            if exc.status == 403 and NOT_LOGGED_IN in exc.reason:
                return with_status(exc.status, exc.reason)
        return ""
