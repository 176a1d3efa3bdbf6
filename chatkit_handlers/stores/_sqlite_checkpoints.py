"""``SQLiteStore``'s WAL checkpoints, run by a thread of their own.

The store runs its short statements on the event loop, on connections whose
automatic checkpoint is off: in WAL mode with ``synchronous=NORMAL`` a commit
then only appends to the WAL file, and never waits for the disk. Copying the
WAL back into the database file (and the fsyncs that go with it) is this
thread's work, every :data:`EVERY` commits, as SQLite's own automatic
checkpoint would after about as many pages.

Each is a ``PASSIVE`` checkpoint, which waits for nothing. While the loop keeps
appending, it rarely finds the whole WAL copied, and SQLite starts writing the
WAL from its beginning again only once it was: under steady load the WAL would
grow without end (measured: 64 MB after 20,000 commits). So once it holds more
than :data:`LONGEST` frames, the thread runs a ``RESTART`` checkpoint instead,
which holds new writes back while it copies the last frames and syncs (the
loop's statements find the file busy and retry after asynchronous pauses: the
loop itself never waits), after which the WAL is written from its start again.
It waits at most :data:`PATIENCE` for the writer and readers; past that it
copies what it can, and the next one tries again. (A ``RESTART`` every time
would hold writes back every :data:`EVERY` commits: a third fewer clicks per
second on one widget, measured.)
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

__all__ = ["EVERY", "LONGEST", "Checkpoints"]

logger = logging.getLogger("chatkit_handlers")

EVERY = 256
"""Commits between two checkpoints (an action commits a few pages: ~1,000 pages, SQLite's default)."""

LONGEST = 4000
"""Frames (pages, ~16 MB) past which the WAL is restarted rather than only copied."""

PATIENCE = 0.1
"""Seconds a checkpoint waits for the writer and the readers before it settles for what it can copy."""


class Checkpoints:
    """Counts one store's commits and checkpoints its file from a thread every :data:`EVERY` of them.

    The thread starts with the first checkpoint and runs until :meth:`stop`
    (a forked process starts its own: threads do not survive a fork).

    Args:
        connect: opens a connection to the file (the thread's own).
    """

    __slots__ = ("_commits", "_connect", "_guard", "_stopping", "_thread", "_wake")

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._commits = 0
        self._guard = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def committed(self) -> None:
        """Count a commit (on the event loop: no lock, no thread start but every ``EVERY`` commits)."""
        self._commits += 1
        if self._commits >= EVERY:
            self._commits = 0
            self.checkpoint_soon()

    def checkpoint_soon(self) -> None:
        """Wake the thread (starting it if needed) to checkpoint once."""
        with self._guard:
            self._stopping = False
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="chatkit-sqlite-checkpoints", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        """End the thread after its checkpoint in progress, if any (the store is closing)."""
        with self._guard:
            self._stopping = True
            thread, self._thread = self._thread, None
        self._wake.set()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._wake.wait()
                with self._guard:
                    self._wake.clear()
                    if self._stopping:
                        return
                try:
                    if conn is None:
                        conn = self._connect()
                        conn.execute(f"PRAGMA busy_timeout = {int(PATIENCE * 1000)}")
                    _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if frames > LONGEST:
                        conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                except sqlite3.Error:  # the next one copies what this one could not
                    logger.warning("SQLite WAL checkpoint failed", exc_info=True)
        finally:
            if conn is not None:
                conn.close()
