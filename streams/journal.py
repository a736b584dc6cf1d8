"""An append-only journal file with a delivered-up-to checkpoint: the inline outbox's memory.

Every record the inline path owes Kafka is appended (one ``write`` per request, before the
HTTP answer), so a worker that is killed, or a Kafka that is down for an hour, loses nothing:
what lies after the checkpoint is delivered when the outbox runs again. The checkpoint is a byte
offset rewritten in place (one fixed-width ``pwrite``) after each delivered chunk; once
everything is delivered and the journal passed a megabyte, it is truncated. Writes go to the
OS, not fsynced: a process crash loses nothing, a machine crash may lose the last records not
yet delivered.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from haze.errors import HazeError


class JournalInUse(HazeError):
    """Another process holds the journal (two workers share one data directory)."""


class JournalFull(Exception):
    """The journal reached its size bound (Kafka has been unreachable for long)."""


class Journal:
    def __init__(
        self, path: Path, *, max_bytes: int = 1 << 30, compact_bytes: int = 1 << 20
    ) -> None:
        self.path = path
        self.checkpoint_path = path.with_name(path.name + ".checkpoint")
        self.max_bytes = max_bytes
        self.compact_bytes = compact_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        _drop_torn_tail(path)
        # unbuffered: each append is one write() straight to the OS
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - held for the journal's life
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._file.close()
            raise JournalInUse(
                f"{path} is used by another process: give each worker its own SCREEN_DATA_DIR"
            ) from exc
        self.confirmed = self._read_checkpoint()
        self.size = self._file.tell()
        if self.confirmed > self.size:  # a truncated journal behind an old checkpoint
            self.confirmed = self.size
        # the checkpoint is rewritten in place: one small pwrite per delivered chunk
        self._checkpoint = os.open(self.checkpoint_path, os.O_RDWR | os.O_CREAT, 0o644)

    def _read_checkpoint(self) -> int:
        try:
            return int(self.checkpoint_path.read_bytes().strip() or 0)
        except (OSError, ValueError):
            return 0

    @property
    def pending_bytes(self) -> int:
        return self.size - self.confirmed

    def append(self, lines: list[bytes]) -> int:
        """Append whole lines (no newline inside); returns the journal's new end offset."""
        data = b"".join(line + b"\n" for line in lines)
        if self.size + len(data) > self.max_bytes and self.pending_bytes > 0:
            raise JournalFull(f"{self.path} holds {self.pending_bytes} undelivered bytes")
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            view = view[written or 0 :]
        self.size += len(data)
        return self.size

    def read(self, limit: int, *, start: int | None = None) -> Iterator[tuple[bytes, int]]:
        """Up to ``limit`` lines after ``start`` (default: the checkpoint), each with the offset
        just past it."""
        offset = self.confirmed if start is None else start
        if offset >= self.size:
            return
        with open(self.path, "rb") as reader:
            reader.seek(offset)
            for _ in range(limit):
                line = reader.readline()
                if not line.endswith(b"\n"):
                    return  # nothing more, or a torn last line of a crashed writer
                offset += len(line)
                yield line[:-1], offset

    def confirm(self, offset: int) -> None:
        """Everything before ``offset`` is delivered. Once all of a journal larger than
        ``compact_bytes`` is delivered it is truncated."""
        if offset >= self.size and self.size >= self.compact_bytes:
            self._file.truncate(0)
            self._file.seek(0)
            self.size = 0
            offset = 0
        self.confirmed = offset
        # fixed width, one write at offset 0: never a torn or shorter number
        os.pwrite(self._checkpoint, b"%020d\n" % offset, 0)

    def close(self) -> None:
        self._file.close()
        os.close(self._checkpoint)


def _drop_torn_tail(path: Path) -> None:
    """A writer killed in the middle of an append can leave half a line: cut it off, so new
    lines do not join it."""
    try:
        with open(path, "rb+") as file:
            size = file.seek(0, os.SEEK_END)
            if size == 0:
                return
            file.seek(size - 1)
            if file.read(1) == b"\n":
                return
            keep = size
            while keep > 0:
                step = min(65536, keep)
                file.seek(keep - step)
                chunk = file.read(step)
                cut = chunk.rfind(b"\n")
                if cut >= 0:
                    keep = keep - step + cut + 1
                    break
                keep -= step
            file.truncate(keep)
    except FileNotFoundError:
        return
