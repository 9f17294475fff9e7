"""The storage-driver protocol: the only way the registry touches bytes at rest.

A driver stores opaque files under slash-separated paths built by
`cargohold.storage.layout`. Drivers know nothing about blobs, repositories or
uploads; the contract here is deliberately small, after distribution's
``storagedriver.StorageDriver``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "FileInfo",
    "FileWriter",
    "InvalidPath",
    "PathBusy",
    "PathNotFound",
    "StorageDriver",
    "StorageError",
]


class StorageError(Exception):
    """Internal driver failure; core code converts these, HTTP never sees them."""


class PathNotFound(StorageError):
    def __init__(self, path: str) -> None:
        super().__init__(f"path not found: {path}")
        self.path = path


class PathBusy(StorageError):
    """Another writer holds the file open for appending."""

    def __init__(self, path: str) -> None:
        super().__init__(f"path is being written: {path}")
        self.path = path


class InvalidPath(StorageError):
    def __init__(self, path: str) -> None:
        super().__init__(f"invalid path: {path!r}")
        self.path = path


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str
    size: int
    modified: float
    is_dir: bool


@runtime_checkable
class FileWriter(Protocol):
    """An open file being written; nothing is durable until `commit` returns."""

    @property
    def size(self) -> int:
        """Bytes in the file so far, including what an append writer started with."""
        ...

    @property
    def identity(self) -> object:
        """Which file this is (equal only for the same file, however it was renamed):
        a file removed and made again at the same path is another file."""
        ...

    async def write(self, data: bytes) -> None:
        """Append ``data``."""
        ...

    async def truncate(self, size: int) -> None:
        """Cut the file back to ``size`` bytes (undo a failed append)."""
        ...

    async def commit(self, move_to: str | None = None) -> None:
        """Flush and fsync; after it returns the content survives a crash.

        With ``move_to`` the file is then renamed there atomically (replacing what
        was there) and the new name made durable too: publishing a staged file in
        one step. Reports any write error the kernel met while writing back.
        """
        ...

    async def close(self) -> None:
        """Release the handle; content written so far stays (it may not be durable)."""
        ...


@runtime_checkable
class StorageDriver(Protocol):
    name: str

    async def get_content(self, path: str) -> bytes:
        """Whole content of a small file. Raises `PathNotFound`."""
        ...

    async def put_content(self, path: str, data: bytes, durable: bool = True) -> None:
        """Atomically replace ``path`` with ``data``: readers see the old or the new file.

        With ``durable`` the content survives a crash once this returns; without it
        (scratch state) it may be lost, but is never seen half-written.
        """
        ...

    def reader(self, path: str, offset: int = 0) -> AsyncIterator[bytes]:
        """Stream the file from ``offset``. Raises `PathNotFound` on first iteration."""
        ...

    async def writer(self, path: str, append: bool = False, create: bool = False) -> FileWriter:
        """Open ``path`` for writing.

        Without ``append`` the file is created or truncated. With ``append`` it must
        already exist (`PathNotFound`, so a finished upload cannot be brought back),
        unless ``create`` asks for a missing file to be made empty first, and only
        one append writer may hold it at a time, across processes too (`PathBusy`)
        until it is closed.
        """
        ...

    async def stat(self, path: str) -> FileInfo:
        """Size and mtime of a file or directory. Raises `PathNotFound`."""
        ...

    async def list(self, path: str) -> list[str]:
        """Full paths of the direct children of a directory. Raises `PathNotFound`."""
        ...

    async def move(self, source: str, dest: str) -> None:
        """Atomically rename ``source`` to ``dest``, replacing it.

        Durable on return: the content of ``source`` and the new name both survive
        a crash, so a staged file can be published with this one call.
        """
        ...

    async def delete(self, path: str) -> None:
        """Remove a file or a whole directory tree. Raises `PathNotFound`."""
        ...

    def local_path(self, path: str) -> str | None:
        """A filesystem path the HTTP server may send directly, or None if not local."""
        ...

    def walk(self, path: str) -> AsyncIterator[FileInfo]:
        """Every file (not directory) under ``path``, depth first; empty if missing."""
        ...
