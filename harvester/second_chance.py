"""A second chance, at the end of the run, for files that failed on busy or broken answers.

Why: on a flaky server (one request in six answered 503, 429, reset or cut short) a file
now and then meets a fault on every one of its tries, and a long run ended "failed" on a
handful of files, a minute after they failed, for a rerun that fetched them at once. rclone
retries a sync's failures at its end (``--retries 3``), wget tries 20 times: here a file
whose last try failed with a :class:`~harvester.errors.TransientError` is asked once more
once the run's queue has ended, with a fresh retry budget, and only a failure then counts.

This class keeps what that needs, per image: the first failure of each such file
(:meth:`keep`), and the image as its fetch met it (:meth:`hold`), for the consumers to
fetch again (:meth:`start`). A file asked again (:meth:`asking`) is the fetch's to journal,
done or failed; one never asked again (its kind given up on meanwhile) is journaled with its
first failure once the run ends (:meth:`left`). A run that stops first (Ctrl-C, the budget,
the server down) journals none of them: they stay pending, for the next run to fetch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Container

    from harvester.fetch import Failure
    from harvester.models import ImageRef


class SecondChance:
    """Files kept aside after a transient failure, and the images to fetch again for them.

    ``enabled``: False for a run of ``--max-retries 0`` (fail fast: no second chance).
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        #: The second chance began: failures from now on are journaled at once.
        self.started = False
        #: Files asked again whose second chance ended, done or failed, and of them, done
        #: (the summary's line; a file a stop cut short is neither: it stays pending).
        self.asked = 0
        self.done = 0
        # image id -> kind -> its first failure (dicts keep the order they were met in)
        self._failures: dict[int, dict[str, Failure]] = {}
        self._refs: dict[int, ImageRef] = {}

    def defers(self) -> bool:
        """Whether a transient failure is kept aside now instead of journaled."""
        return self.enabled and not self.started

    def keep(self, failure: Failure) -> None:
        """Keep ``failure`` aside (its file stays pending) for the second chance."""
        self._failures.setdefault(failure.image_id, {})[failure.kind] = failure

    def hold(self, ref: ImageRef) -> None:
        """The image's first fetch is over: fetched again at the end if it kept a failure."""
        if ref.image_id in self._failures:
            self._refs[ref.image_id] = ref

    def kinds(self, image_id: int) -> frozenset[str]:
        """The kinds of ``image_id`` kept aside and not asked again yet."""
        return frozenset(self._failures.get(image_id, ()))

    def files(self, stopped: Container[str] = ()) -> int:
        """Files kept aside and not asked again yet, but those of a kind in ``stopped``
        (given up on: never asked again, journaled with their first failure by :meth:`left`)."""
        return sum(kind not in stopped for kinds in self._failures.values() for kind in kinds)

    def start(self) -> list[ImageRef]:
        """Begin the second chance: the images to fetch again, in the order first met."""
        self.started = True
        return [ref for image_id, ref in self._refs.items() if image_id in self._failures]

    def asking(self, image_id: int, kind: str) -> None:
        """``kind`` of ``image_id`` is asked again: its outcome is the fetch's to journal
        (and to count: :meth:`ended`)."""
        kinds = self._failures.get(image_id)
        if kinds is not None and kinds.pop(kind, None) is not None and not kinds:
            del self._failures[image_id]

    def ended(self, done: bool) -> None:
        """A file asked again is done, or failed (journaled): counted for the summary."""
        self.asked += 1
        self.done += done

    def left(self) -> list[Failure]:
        """The failures never asked again (their kind given up on meanwhile), now to
        journal with their first failure; none are kept after."""
        failures = [f for kinds in self._failures.values() for f in kinds.values()]
        self._failures.clear()
        self._refs.clear()
        return failures
