"""A driver that keeps files in a dict: fast unit tests and throwaway servers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from cargohold.storage.driver import FileInfo, InvalidPath, PathBusy, PathNotFound


def _check(path: str) -> str:
    if (
        not path.startswith("/")
        or "//" in path
        or any(part in (".", "..") for part in path.split("/")[1:])
    ):
        raise InvalidPath(path)
    return path.rstrip("/") or "/"


class InMemoryWriter:
    def __init__(self, driver: InMemoryDriver, path: str) -> None:
        self._driver = driver
        self._path = path
        self._identity = driver.identities[path]

    @property
    def size(self) -> int:
        return len(self._driver.files[self._path])

    @property
    def identity(self) -> object:
        return self._identity

    async def write(self, data: bytes) -> None:
        self._driver.files[self._path] += data
        self._driver.mtimes[self._path] = time.time()

    async def truncate(self, size: int) -> None:
        del self._driver.files[self._path][size:]

    async def commit(self, move_to: str | None = None) -> None:
        if move_to is not None:
            dest = _check(move_to)
            self._driver.files[dest] = self._driver.files.pop(self._path)
            self._driver.identities[dest] = self._driver.identities.pop(self._path)
            self._driver.appending.discard(self._path)
            self._path = dest

    async def close(self) -> None:
        self._driver.appending.discard(self._path)


class InMemoryDriver:
    name = "inmemory"

    def __init__(self) -> None:
        self.files: dict[str, bytearray] = {}
        self.mtimes: dict[str, float] = {}
        # One token per file made: a file made again at the same path is another.
        self.identities: dict[str, object] = {}
        self.appending: set[str] = set()

    def _is_dir(self, path: str) -> bool:
        prefix = path.rstrip("/") + "/"
        return any(p.startswith(prefix) for p in self.files)

    async def get_content(self, path: str) -> bytes:
        try:
            return bytes(self.files[_check(path)])
        except KeyError:
            raise PathNotFound(path) from None

    async def put_content(self, path: str, data: bytes, durable: bool = True) -> None:
        self.files[_check(path)] = bytearray(data)
        self.identities[path] = object()
        self.mtimes[path] = time.time()

    async def reader(self, path: str, offset: int = 0) -> AsyncIterator[bytes]:
        try:
            data = bytes(self.files[_check(path)])
        except KeyError:
            raise PathNotFound(path) from None
        for start in range(offset, len(data), 1024 * 1024):
            yield data[start : start + 1024 * 1024]

    async def writer(self, path: str, append: bool = False, create: bool = False) -> InMemoryWriter:
        path = _check(path)
        if append:
            if path not in self.files:
                if not create:
                    raise PathNotFound(path)
                self.files[path] = bytearray()
                self.identities[path] = object()
            if path in self.appending:
                raise PathBusy(path)
            self.appending.add(path)
        else:
            self.files[path] = bytearray()
            self.identities[path] = object()
        self.mtimes[path] = time.time()
        return InMemoryWriter(self, path)

    async def stat(self, path: str) -> FileInfo:
        path = _check(path)
        if path in self.files:
            return FileInfo(path, len(self.files[path]), self.mtimes.get(path, 0.0), False)
        if self._is_dir(path):
            return FileInfo(path, 0, 0.0, True)
        raise PathNotFound(path)

    async def list(self, path: str) -> list[str]:
        path = _check(path)
        if not self._is_dir(path):
            raise PathNotFound(path)
        prefix = path.rstrip("/") + "/"
        children = {
            prefix + p[len(prefix) :].split("/", 1)[0] for p in self.files if p.startswith(prefix)
        }
        return sorted(children)

    async def move(self, source: str, dest: str) -> None:
        source, dest = _check(source), _check(dest)
        if source not in self.files:
            raise PathNotFound(source)
        self.files[dest] = self.files.pop(source)
        self.mtimes[dest] = self.mtimes.pop(source, time.time())
        self.identities[dest] = self.identities.pop(source, object())

    async def delete(self, path: str) -> None:
        path = _check(path)
        prefix = path.rstrip("/") + "/"
        doomed = [p for p in self.files if p == path or p.startswith(prefix)]
        if not doomed:
            raise PathNotFound(path)
        for p in doomed:
            del self.files[p]
            self.mtimes.pop(p, None)
            self.identities.pop(p, None)

    def local_path(self, path: str) -> str | None:
        return None

    async def walk(self, path: str) -> AsyncIterator[FileInfo]:
        prefix = _check(path).rstrip("/") + "/"
        for p in sorted(self.files):
            if p.startswith(prefix):
                yield FileInfo(p, len(self.files[p]), self.mtimes.get(p, 0.0), False)
