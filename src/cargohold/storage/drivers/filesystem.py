"""A driver over a local directory: the embedded default.

Durability follows the usual POSIX recipe: write, fsync the file, rename into
place, fsync the directory. Large writes run in a worker thread so the event
loop keeps serving while the disk works, and go around the page cache
(``O_DIRECT``) where the filesystem allows it.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from cargohold import offload
from cargohold.storage.driver import FileInfo, InvalidPath, PathBusy, PathNotFound
from cargohold.storage.drivers import pagecache

READ_CHUNK = 1024 * 1024
# Start writing dirty pages back while the upload is still arriving, so the fsync
# at commit has little left to do instead of flushing the whole blob at once.
WRITEBACK_EVERY = 8 * 1024 * 1024
# Operations on at most this many bytes without fsync run on the event loop: on
# virtual machines a hop to a worker thread costs 0.2-0.6 ms, far more than they do.
SMALL_INLINE = 64 * 1024
# Writes of at least this many bytes go to disk directly (O_DIRECT), in whole
# aligned blocks, the ragged ends through the page cache. Measured here (256 MiB
# in 1 MiB writes, then fsync): through the page cache 470-1,320 MiB/s, the copy
# alone 0.06-0.4 CPU-s; direct 1,190-1,430 MiB/s and 0.05 CPU-s, and the fsync
# then has nothing left to write. A blob is read back rarely right after its push.
DIRECT_MIN = 256 * 1024
DIRECT_ALIGN = 4096


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs_durable(path: str) -> None:
    """``os.makedirs``, fsyncing each parent that gained an entry, so a file renamed
    into a new directory is reachable after a power loss too."""
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    _makedirs_durable(parent)
    try:
        os.mkdir(path)
    except FileExistsError:
        return
    _fsync_dir(parent)


_libc = ctypes.CDLL(None, use_errno=True)
_sync_file_range = getattr(_libc, "sync_file_range", None)
if _sync_file_range is not None:
    _sync_file_range.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
SYNC_FILE_RANGE_WAIT_BEFORE = 1
SYNC_FILE_RANGE_WRITE = 2
SYNC_FILE_RANGE_WAIT_AFTER = 4
_O_DIRECT: int = getattr(os, "O_DIRECT", 0)  # Linux; elsewhere no direct writes


def _start_writeback(fd: int) -> None:
    """Ask the kernel to start writing the file's dirty pages to disk, without
    waiting (the whole file: clean pages cost nothing).

    Unlike an fsync it consumes no write error: a failure stays recorded for the
    fsync that commits the file, which then reports it.
    """
    if _sync_file_range is not None:
        _sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE)


def _write_back_and_wait(fd: int) -> None:
    """Write the file's dirty cached pages to disk and wait for them. Not the
    metadata: the journal orders the blocks they were given before any later size
    change. Like `_start_writeback`, it leaves errors to the commit's fsync; where
    there is no sync_file_range, an fsync does it."""
    if _sync_file_range is None:
        os.fsync(fd)
        return
    flags = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER
    _sync_file_range(fd, 0, 0, flags)


class FilesystemWriter:
    """Appends to one file.

    Writes of at least `DIRECT_MIN` bytes go around the page cache in whole
    aligned blocks; their ragged head and tail go through it. Cached bytes before
    a direct write are written back and waited for first (a few KiB, as a rule):
    a direct write makes the larger file size durable at once, and ext4 would
    otherwise show cached bytes before it as zeros after a power loss. Measured
    here, that wait per 2 MiB write cost nothing visible, while cutting writes on
    block boundaries in `core.streams.pump` (so that there would be nothing to
    wait for) cost a copy per write and 20% of push throughput.
    """

    def __init__(
        self,
        fd: int,
        size: int,
        path: str,
        resolve: Callable[[str], str],
        identity: object = None,
    ) -> None:
        self._fd = fd
        self._size = size
        self._identity = identity
        self._path = path  # where the file is now, on disk
        self._resolve = resolve
        self._unsynced = 0
        # Whether cached bytes may be waiting for write-back; a file that holds
        # bytes already may hold such from an earlier writer.
        self._dirty = size > 0
        # The same file opened again with O_DIRECT, and an aligned buffer for it:
        # made at the first large write, dropped for good if the system refuses.
        self._direct_fd = -1
        self._direct = _O_DIRECT != 0
        self._aligned: mmap.mmap | None = None

    @property
    def size(self) -> int:
        return self._size

    @property
    def identity(self) -> object:
        return self._identity

    def _write_all(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        if self._direct and len(view) >= DIRECT_MIN:
            # The head fills the block the last write left ragged; the tail is
            # what does not fill a block. Each block is written one way only.
            head = -self._size % DIRECT_ALIGN
            self._write_cached(view[:head])
            view = view[head:]
            body = len(view) - len(view) % DIRECT_ALIGN
            if body:
                view = view[self._write_direct(view[:body]) :]
        self._write_cached(view)

    def _write_cached(self, view: memoryview) -> None:
        # pwrite at the end we know: this descriptor's offset does not move when
        # the direct one writes.
        while view:
            written = os.pwrite(self._fd, view, self._size)
            view = view[written:]
            self._size += written
            self._unsynced += written
            self._dirty = True
        if self._unsynced >= WRITEBACK_EVERY:
            self._kick_writeback()

    def _write_direct(self, view: memoryview) -> int:
        """Write whole blocks around the page cache; return how many bytes went.

        Fewer, down to none, where the system refuses (a filesystem without
        O_DIRECT, blocks larger than ours, no /proc, the open failing for any
        reason): the caller sends the rest through the cache, and so does every
        later write.
        """
        if self._direct_fd < 0:
            try:
                # Through /proc: the very file this writer holds, whatever its name.
                self._direct_fd = os.open(f"/proc/self/fd/{self._fd}", os.O_WRONLY | _O_DIRECT)
            except OSError:
                self._direct = False
                return 0
        if self._dirty:
            _write_back_and_wait(self._fd)
            self._dirty = False
        done = 0
        try:
            buffer = self._buffer(len(view))
            buffer[: len(view)] = view
            with memoryview(buffer) as aligned:
                while done < len(view):
                    written = os.pwrite(self._direct_fd, aligned[done : len(view)], self._size)
                    self._size += written
                    done += written
                    if written == 0 or written % DIRECT_ALIGN:
                        break  # a short write: the rest through the cache
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise
            self._direct = False
            self._close_direct()
        return done

    def _close_direct(self) -> None:
        # Forgotten before it is closed: a close that fails (EIO on NFS) has still
        # freed the number, which a second close would take from whatever file
        # reused it.
        fd, self._direct_fd = self._direct_fd, -1
        if fd >= 0:
            os.close(fd)

    def _buffer(self, size: int) -> mmap.mmap:
        """Page-aligned memory, as O_DIRECT needs, kept for this writer's next write."""
        if self._aligned is None or len(self._aligned) < size:
            # Dropped, not closed: a view of it may outlive a failed write in a
            # traceback, and close() would then raise over the real error.
            self._aligned = mmap.mmap(-1, -(-size // READ_CHUNK) * READ_CHUNK)
        return self._aligned

    def _kick_writeback(self) -> None:
        _start_writeback(self._fd)
        self._unsynced = 0

    async def write(self, data: bytes) -> None:
        if len(data) >= 256 * 1024:
            await offload.run_sync(self._write_all, data)
        else:
            self._write_all(data)

    async def truncate(self, size: int) -> None:
        os.ftruncate(self._fd, size)
        os.lseek(self._fd, size, os.SEEK_SET)
        self._size = size
        self._unsynced = 0

    async def commit(self, move_to: str | None = None) -> None:
        dest = self._resolve(move_to) if move_to is not None else None
        # One worker-thread hop for the whole publish: content, rename, directory.
        await offload.run_sync(self._commit_sync, dest)

    def _commit_sync(self, dest: str | None) -> None:
        os.fsync(self._fd)
        self._unsynced = 0
        self._dirty = False
        if dest is None:
            return
        _makedirs_durable(os.path.dirname(dest))
        os.replace(self._path, dest)
        _fsync_dir(os.path.dirname(dest))
        self._path = dest

    async def close(self) -> None:
        if self._fd < 0:
            return
        try:
            if self._unsynced >= SMALL_INLINE:
                # A chunk of a longer upload: start its write-back now, so the fsync
                # that finishes the upload has little left to wait for.
                await offload.run_sync(self._kick_writeback)
        finally:  # cancelled or not: the descriptors go, forgotten first as above
            fd, self._fd = self._fd, -1
            self._aligned = None
            try:
                os.close(fd)
            finally:
                self._close_direct()


def _still_at(fd: int, full: str) -> bool:
    try:
        named = os.stat(full)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


class FilesystemDriver:
    name = "filesystem"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _full(self, path: str) -> str:
        if (
            not path.startswith("/")
            or "//" in path
            or any(part in (".", "..") for part in path.split("/")[1:])
        ):
            raise InvalidPath(path)
        return str(self.root) + path

    async def get_content(self, path: str) -> bytes:
        try:
            with open(self._full(path), "rb") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise PathNotFound(path) from None

    def _put_sync(self, full: str, data: bytes, durable: bool) -> None:
        directory = os.path.dirname(full)
        _makedirs_durable(directory)
        tmp = f"{full}.tmp-{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, full)
        if durable:
            _fsync_dir(directory)

    async def put_content(self, path: str, data: bytes, durable: bool = True) -> None:
        if durable or len(data) > SMALL_INLINE:
            await offload.run_sync(self._put_sync, self._full(path), data, durable)
        else:
            # No fsync: a few fast syscalls, cheaper inline than a thread hop.
            self._put_sync(self._full(path), data, durable)

    async def reader(self, path: str, offset: int = 0) -> AsyncIterator[bytes]:
        try:
            f = open(self._full(path), "rb")  # noqa: SIM115 - closed in finally
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise PathNotFound(path) from None
        try:
            f.seek(offset)
            size, position = os.fstat(f.fileno()).st_size, offset
            while True:
                if pagecache.cached(f.fileno(), position, min(READ_CHUNK, size - position)):
                    chunk = f.read(READ_CHUNK)  # a memory copy: cheaper than a thread hop
                else:
                    chunk = await offload.run_sync(f.read, READ_CHUNK)
                if not chunk:
                    return
                position += len(chunk)
                yield chunk
        finally:
            f.close()

    async def writer(
        self, path: str, append: bool = False, create: bool = False
    ) -> FilesystemWriter:
        full = self._full(path)
        if append:
            flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT if create else 0)
            try:
                fd = os.open(full, flags, 0o644)
            except FileNotFoundError:
                if not create:
                    raise PathNotFound(path) from None
                _makedirs_durable(os.path.dirname(full))
                fd = os.open(full, flags, 0o644)
            except NotADirectoryError:
                raise PathNotFound(path) from None
            try:
                # Released when the last descriptor of this open file is closed.
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise PathBusy(path) from None
            # Whoever held the lock may have renamed the file away (an upload
            # published as a blob) between our open and our lock: this descriptor
            # is then the published file, and must not be appended to.
            if not _still_at(fd, full):
                os.close(fd)
                raise PathNotFound(path)
        else:
            try:
                fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            except FileNotFoundError:
                _makedirs_durable(os.path.dirname(full))
                fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        info = os.fstat(fd)
        return FilesystemWriter(fd, info.st_size, full, self._full, (info.st_dev, info.st_ino))

    async def stat(self, path: str) -> FileInfo:
        try:
            st = os.stat(self._full(path))
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(path) from None
        is_dir = os.path.isdir(self._full(path))
        return FileInfo(path, 0 if is_dir else st.st_size, st.st_mtime, is_dir)

    async def list(self, path: str) -> list[str]:
        try:
            names = os.listdir(self._full(path))
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(path) from None
        base = path.rstrip("/")
        return sorted(f"{base}/{name}" for name in names if ".tmp-" not in name)

    def _move_sync(self, source: str, dest: str) -> None:
        # One worker-thread hop for the whole publish: content, rename, directory.
        try:
            fd = os.open(source, os.O_RDONLY)
        except FileNotFoundError:
            raise PathNotFound(source) from None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        _makedirs_durable(os.path.dirname(dest))
        try:
            os.replace(source, dest)
        except FileNotFoundError:
            raise PathNotFound(source) from None
        _fsync_dir(os.path.dirname(dest))

    async def move(self, source: str, dest: str) -> None:
        await offload.run_sync(self._move_sync, self._full(source), self._full(dest))

    def _delete_sync(self, full: str, path: str) -> None:
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        else:
            try:
                os.unlink(full)
            except FileNotFoundError:
                raise PathNotFound(path) from None

    async def delete(self, path: str) -> None:
        full = self._full(path)
        if self._is_small(full):
            self._delete_sync(full, path)
        else:
            await offload.run_sync(self._delete_sync, full, path)

    @staticmethod
    def _is_small(full: str) -> bool:
        """A file, or a directory of a few files: quicker to remove than to hand off."""
        try:
            with os.scandir(full) as entries:
                for count, entry in enumerate(entries):
                    if count >= 8 or entry.is_dir(follow_symlinks=False):
                        return False
        except NotADirectoryError:
            return True
        except FileNotFoundError:
            return True
        return True

    def local_path(self, path: str) -> str | None:
        return self._full(path)

    async def walk(self, path: str) -> AsyncIterator[FileInfo]:
        # One directory per worker-thread hop: garbage collection walks every blob
        # while the server serves, and must not hold the event loop that long.
        prefix = len(str(self.root))
        pending = [self._full(path)]
        while pending:
            directory = pending.pop()
            files, subdirs = await offload.run_sync(_scan_dir, directory)
            pending.extend(sorted(subdirs, reverse=True))
            for file_path, size, mtime in files:
                yield FileInfo(file_path[prefix:], size, mtime, False)


def _scan_dir(directory: str) -> tuple[list[tuple[str, int, float]], list[str]]:
    """Files (path, size, mtime) and subdirectories of one directory, sorted; temp
    files of writes in progress are left out."""
    files: list[tuple[str, int, float]] = []
    subdirs: list[str] = []
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return files, subdirs
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(entry.path)
            elif ".tmp-" not in entry.name:
                st = entry.stat(follow_symlinks=False)
                files.append((entry.path, st.st_size, st.st_mtime))
        except FileNotFoundError:
            continue
    return files, subdirs
