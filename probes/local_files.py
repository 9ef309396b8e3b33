"""Reading a local file a user named (a password, a certificate, a key, rules): regular
files only, and bounded. A FIFO would block the read forever and /dev/zero never ends;
both are refused before a byte is read, and so is a file larger than its use allows."""

from __future__ import annotations

import os


class FileProblem(ValueError):
    """Why the file cannot be used, in words that follow its path."""


def read_regular(path: str, limit: int) -> bytes:
    """The whole file, at most ``limit`` bytes; FileProblem otherwise."""
    try:
        # O_NONBLOCK: opening a FIFO without a writer returns at once instead of waiting.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as error:
        raise FileProblem(f"cannot read {path} ({error.strerror})") from None
    try:
        info = os.fstat(descriptor)
        if (info.st_mode & 0o170000) != 0o100000:  # S_ISREG, without importing stat
            raise FileProblem(f"{path} is not a regular file")
        if info.st_size > limit:
            raise FileProblem(f"{path} is larger than {limit} bytes")
        os.set_blocking(descriptor, True)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(descriptor, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # it grew while we read
            raise FileProblem(f"{path} is larger than {limit} bytes")
        return b"".join(chunks)
    except OSError as error:
        raise FileProblem(f"cannot read {path} ({error.strerror})") from None
    finally:
        os.close(descriptor)
