"""Event files before dbt reads them: which files the events location matches, and whether each one
can be read, and how (docs/operations.md, "What happens when…").

DuckDB's CSV reader is the fast path for NDJSON lines, but a single line it cannot take (invalid UTF-8,
a lone carriage return, a line longer than its buffer) fails the whole query, and a damaged gzip or
Parquet file fails it too. So every new file is checked here first, in one streaming pass:

- ``ok``: DuckDB reads it as it is;
- ``lines``: it has lines DuckDB cannot take: this module reads it line by line into a Parquet side
  file (``line_number``, ``raw``, ``read_error``) that staging reads instead, so those lines are
  quarantined with a reason and the rest of the file is loaded;
- ``rejected``: it cannot be read at all (corrupt or truncated gzip, garbage Parquet, no permission,
  UTF-16): nothing of it is loaded, and it is retried when its size or checksum changes;
- ``unsupported``: not an event file type (``.json``, ``.gz``, ``.csv``…): reported, never read.

The dbt staging models call these functions through DuckDB functions registered by
``orchestration.events.duckdb_plugin``.

The location may be object storage (``s3://``, ``gs://``, ``az://``…; docs/object_storage.md): it is then
listed and read through fsspec, with the credentials the storage SDK finds in its own environment.
Local paths never touch fsspec.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import glob as globlib
import gzip
import hashlib
import importlib.util
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

# Longer lines are quarantined as line_too_long (DuckDB's CSV reader stops at 2 MB per line).
MAX_LINE_BYTES = 1 << 20
CHUNK_BYTES = 16 << 20
SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Object storage served through fsspec: scheme → the package that implements it.
OBJECT_STORE_PACKAGES = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
}
# Environment variables whose values are secrets: never repeated in a message.
SECRET_ENV = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_CLIENT_SECRET",
)
USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")
WILDCARD = re.compile(r"[*?\[]")
# (size, version) of each object at its latest listing: the version is the store's ETag (or generation).
_OBJECT_VERSIONS: dict[str, tuple[int | None, str | None]] = {}


def event_format(path: str) -> str | None:
    """'parquet' or 'ndjson' by the file's suffix (CONTRACT.md §1); None for any other file."""
    p = path.lower()
    if p.endswith(".parquet"):
        return "parquet"
    if p.endswith((".ndjson", ".jsonl", ".ndjson.gz", ".jsonl.gz")):
        return "ndjson"
    return None


def object_scheme(path: str) -> str | None:
    """The URL scheme of an object-storage path (``s3``, ``gs``…), None for a local path or file://."""
    found = SCHEME.match(path)
    if found and found.group(1).lower() != "file":
        return found.group(1).lower()
    return None


def redact(text: str) -> str:
    """The text without credentials: no user:password@ in a URL, no value of a secret environment variable."""
    text = USERINFO.sub(r"\1***@", text)
    for name in SECRET_ENV:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def location_error(pattern: str) -> str | None:
    """Why an events location cannot be read at all (None when it can be listed)."""
    scheme = object_scheme(pattern)
    if scheme is None:
        return None
    shown = redact(pattern)
    if USERINFO.match(pattern):
        return (
            f"USAGE_BILLING_EVENTS={shown}: credentials in the location are refused; the storage SDK "
            "reads them from its environment (docs/object_storage.md)"
        )
    package = OBJECT_STORE_PACKAGES.get(scheme)
    if package is None:
        return (
            f"USAGE_BILLING_EVENTS={shown}: the {scheme}:// scheme is not supported; give a local path or "
            "glob, or an s3://, gs:// or az:// location"
        )
    if importlib.util.find_spec(package) is None:
        return f"USAGE_BILLING_EVENTS={shown}: the {scheme}:// scheme needs the Python package {package}"
    return None


def list_files(pattern: str) -> list[str]:
    """Every regular file the glob matches (event files and others), sorted, spelled as the glob
    spells them: ``*`` and ``?`` stay within one folder, ``**`` spans any number of them. Names are
    taken literally: a file called ``star*.ndjson`` is one file, not a pattern."""
    error = location_error(pattern)
    if error:
        raise ValueError(error)
    if object_scheme(pattern):
        return _list_objects(pattern)
    if pattern.lower().startswith("file://"):
        pattern = pattern[len("file://") :]
    # A dangling symbolic link is listed too: its check reports it as unreadable.
    return sorted(p for p in globlib.glob(pattern, recursive=True) if os.path.isfile(p) or os.path.islink(p))


def event_source_globs(catalog: str | Path) -> list[tuple[str, str]]:
    """(source_id, glob) of each gateway-log source of the catalog folder (event_sources.csv,
    docs/gateway_logs.md); empty without the file."""
    sources = Path(catalog) / "event_sources.csv"
    if not sources.is_file():
        return []
    with sources.open(newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f)
        return [(row["source_id"], row["glob"]) for row in rows if row.get("source_id") and row.get("glob")]


def list_event_files(pattern: str) -> list[str]:
    """The readable files the glob matches that are event files by their suffix."""
    return [p for p in list_files(pattern) if event_format(p) and (object_scheme(p) or os.path.isfile(p))]


class ObjectStoreError(ValueError):
    """The object store refused or failed a listing (credentials, permission, missing bucket)."""


def object_store_failure(location: str, what: str, error: BaseException) -> str:
    """One line naming the location and the store's reason, without secrets."""
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return redact(
        f"USAGE_BILLING_EVENTS={location}: {what}: {type(error).__name__}: {reason} "
        "(credentials and endpoint come from the storage SDK's environment: docs/object_storage.md)"
    )


def _filesystem(url: str):
    import fsspec

    _stop_io_thread_at_exit()
    return fsspec.core.url_to_fs(url)


@functools.cache
def _stop_io_thread_at_exit() -> None:
    """Stop fsspec's event-loop thread before the interpreter exits. Left running, it keeps the
    interpreter from collecting DuckDB's objects at exit, and DuckDB's bindings print pages of
    "leaked" warnings after the command's own output."""
    import atexit

    def stop() -> None:
        import fsspec.asyn

        loop, thread = fsspec.asyn.loop[0], fsspec.asyn.iothread[0]
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)

    atexit.register(stop)


def _list_objects(pattern: str) -> list[str]:
    """The objects the glob matches, as ``scheme://bucket/key`` (fsspec's glob: the same ``*``, ``?`` and
    ``**``; a name that starts with a dot is matched by a wildcard only if the pattern says so, as for
    local files). Records each object's size and version for the checks and for changed objects."""
    scheme = object_scheme(pattern)
    try:
        fs, path = _filesystem(pattern)
        fs.invalidate_cache()  # a listing is always fresh (a long-lived process lists again and again)
        found = fs.glob(path, detail=True)
    except Exception as e:  # botocore, gcsfs and adlfs raise their own types besides OSError
        raise ObjectStoreError(object_store_failure(pattern, "cannot list the objects", e)) from None
    parts = path.split("/")
    fixed = next((i for i, part in enumerate(parts) if WILDCARD.search(part)), len(parts))
    dotted = any(part.startswith(".") for part in parts[fixed:])
    files = []
    for name, info in found.items():
        if info.get("type") != "file" or name.endswith("/"):
            continue
        if not dotted and any(part.startswith(".") for part in name.split("/")[fixed:]):
            continue
        url = f"{scheme}://{name}"
        _OBJECT_VERSIONS[url] = (info.get("size"), _object_version(info))
        files.append(url)
    return sorted(files)


def _object_version(info: dict) -> str | None:
    """What changes when an object is overwritten: its ETag (S3, Azure) or generation (GCS)."""
    for key in ("ETag", "etag", "generation"):
        if info.get(key):
            return f"{key.lower()}:{str(info[key]).strip(chr(34))}"
    return None


def object_version(url: str) -> tuple[int | None, str | None]:
    """(size, version) of an object: from its latest listing, else asked of the store."""
    if url not in _OBJECT_VERSIONS:
        fs, path = _filesystem(url)
        info = fs.info(path)
        _OBJECT_VERSIONS[url] = (info.get("size"), _object_version(info))
    return _OBJECT_VERSIONS[url]


def file_size(path: str) -> int:
    """A listed file's size in bytes (an object's from its listing)."""
    if object_scheme(path):
        return object_version(path)[0] or 0
    return os.path.getsize(path)


def _open(path: str):
    """The file's bytes as a binary stream: a local file, or an object through fsspec."""
    if object_scheme(path):
        fs, key = _filesystem(path)
        return fs.open(key, "rb", block_size=CHUNK_BYTES)
    return open(path, "rb")


def _size(path: str) -> int:
    if object_scheme(path):
        try:
            return object_version(path)[0] or 0
        except OSError:
            raise
        except Exception as e:  # a store's own error types: an unreadable object
            raise OSError(redact(f"{type(e).__name__}: {e}")) from None
    return os.stat(path).st_size


@dataclass
class Inspection:
    source_file: str
    status: str  # ok | lines | rejected | unsupported | unchanged
    reason: str | None = None
    detail: str | None = None
    size_bytes: int | None = None
    checksum: str | None = None
    sidecar: str | None = None

    def as_row(self) -> dict:
        return asdict(self)


def file_checksum(path: str) -> str:
    digest = hashlib.sha256()
    with _open(path) as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def _open_lines_source(path: str):
    """The file's decompressed bytes as a binary stream."""
    if path.lower().endswith(".gz"):
        if object_scheme(path):
            # GzipFile closes only a file it opened itself: close the object's stream with it.
            stream = _open(path)
            source = gzip.GzipFile(fileobj=stream, mode="rb")
            source.myfileobj = stream
            return source
        return gzip.open(path, "rb")
    return _open(path)


def _decompressed_chunks(path: str) -> Iterator[bytes]:
    """The file's bytes, decompressed when it is gzip (every member of a multi-member file), in chunks.
    zlib directly: faster than the gzip module, and it checks each member's CRC and length. Raises
    EOFError for a stream that ends early and zlib.error for a damaged one."""
    with _open(path) as f:
        if not path.lower().endswith(".gz"):
            while chunk := f.read(CHUNK_BYTES):
                yield chunk
            return
        inflater, fed = zlib.decompressobj(wbits=31), False
        while compressed := f.read(CHUNK_BYTES // 4):
            while compressed:
                fed = True
                if out := inflater.decompress(compressed):
                    yield out
                if not inflater.eof:
                    break
                compressed = inflater.unused_data  # the next member, if any
                inflater, fed = zlib.decompressobj(wbits=31), False
        if fed and not inflater.eof:
            raise EOFError("the gzip stream ends before its end marker")


class _LineProblems:
    """What DuckDB's CSV reader could not take, found chunk by chunk without splitting lines."""

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.invalid_utf8 = False
        self.stray_cr = False
        self.long_line = False
        self.line_length = 0  # bytes since the last newline
        self.pending_cr = False
        self.lf = 0  # line feeds, and those of them after a carriage return
        self.crlf = 0
        self.fresh = True  # nothing fed yet

    def feed(self, chunk: bytes) -> None:
        self.fresh = False
        if not self.invalid_utf8 and not chunk.isascii():
            try:
                self.decoder.decode(chunk)
            except UnicodeDecodeError:
                self.invalid_utf8 = True
        self.lf += chunk.count(b"\n")
        if self.pending_cr or b"\r" in chunk:
            joined = (b"\r" if self.pending_cr else b"") + chunk
            crlf = joined.count(b"\r\n")
            self.crlf += crlf
            crs = joined.count(b"\r") - (1 if joined.endswith(b"\r") else 0)
            self.stray_cr = self.stray_cr or crs != crlf
        self.pending_cr = chunk.endswith(b"\r")
        if not self.long_line:
            last = chunk.rfind(b"\n")
            if last < 0:
                self.line_length += len(chunk)
            else:
                first = chunk.find(b"\n")
                longest = max(self.line_length + first, _longest_line(chunk, first, last))
                self.long_line = longest > MAX_LINE_BYTES
                self.line_length = len(chunk) - last - 1
            self.long_line = self.long_line or self.line_length > MAX_LINE_BYTES

    def finish(self) -> None:
        if not self.invalid_utf8:
            try:
                self.decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self.invalid_utf8 = True
        self.stray_cr = self.stray_cr or self.pending_cr

    @property
    def mixed_endings(self) -> bool:
        """Both CRLF and LF line endings: DuckDB's reader takes one kind per file."""
        return 0 < self.crlf < self.lf

    @property
    def any(self) -> bool:
        return self.invalid_utf8 or self.stray_cr or self.long_line or self.mixed_endings


def _longest_line(chunk: bytes, first: int, last: int) -> int:
    """The longest run between two newlines of the chunk (numpy finds them all at once)."""
    if first == last:
        return 0
    import numpy as np

    newlines = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8, count=last + 1) == 10)
    return int(np.diff(newlines).max()) - 1


def _reject(path: str, size: int, reason: str, detail: str) -> Inspection:
    try:
        checksum = file_checksum(path)
    except OSError:
        checksum = None
    return Inspection(path, "rejected", reason, detail[:500], size, checksum)


def inspect_file(
    path: str,
    sidecar_dir: str,
    known: tuple[int, str | None] | None = None,
    *,
    fmt: str | None = None,
    name: str | None = None,
) -> Inspection:
    """Decide how a file is read (see the module's doc). ``known`` is the (size, checksum) of an earlier
    rejection: the same bytes are not checked again (``unchanged``). ``fmt`` overrides the format the
    file's suffix gives, and ``name`` the name it is reported under (a gateway log: ``<file>#<source>``)."""
    inspection = _inspect(path, sidecar_dir, known, fmt)
    if name is not None:
        inspection.source_file = name
    return inspection


def _inspect(
    path: str, sidecar_dir: str, known: tuple[int, str | None] | None, fmt: str | None
) -> Inspection:
    try:
        size = _size(path)
    except OSError as e:
        return Inspection(path, "rejected", "unreadable", redact(e.strerror or str(e)))
    fmt = fmt or event_format(path)
    if fmt is None:
        if known is not None and known[0] == size:
            return Inspection(path, "unchanged", size_bytes=size)
        return Inspection(
            path,
            "unsupported",
            "unsupported_file_type",
            "not .ndjson, .jsonl (optionally .gz) or .parquet",
            size,
        )
    if known is not None and known[0] == size and known[1]:
        try:
            if file_checksum(path) == known[1]:
                return Inspection(path, "unchanged", size_bytes=size, checksum=known[1])
        except OSError:
            pass
    try:
        with _open(path) as f:
            head = f.read(4)
    except OSError as e:
        return _reject(path, size, "unreadable", redact(e.strerror or str(e)))
    if fmt == "parquet":
        return _inspect_parquet(path, size)
    if path.lower().endswith(".gz") and head[:2] != b"\x1f\x8b":
        return _reject(path, size, "not_gzip", "named .gz but not gzip-compressed")
    problems = _LineProblems()
    try:
        for chunk in _decompressed_chunks(path):
            if problems.fresh and chunk[:2] in (b"\xff\xfe", b"\xfe\xff"):
                return _reject(
                    path, size, "unsupported_encoding", "UTF-16 byte order mark: events must be UTF-8"
                )
            problems.feed(chunk)
        problems.finish()
    except EOFError as e:
        return _reject(path, size, "truncated_gzip", f"the gzip stream ends early ({e})")
    except (gzip.BadGzipFile, zlib.error) as e:
        return _reject(path, size, "corrupt_gzip", str(e))
    except OSError as e:
        return _reject(path, size, "unreadable", redact(e.strerror or str(e)))
    if not problems.any:
        return Inspection(path, "ok", size_bytes=size, checksum=_loaded_version(path))
    sidecar = write_sidecar(path, sidecar_dir)
    reasons = [
        name
        for name, found in (
            ("invalid_utf8", problems.invalid_utf8),
            ("stray_carriage_return", problems.stray_cr),
            ("line_too_long", problems.long_line),
            ("mixed_line_endings", problems.mixed_endings),
        )
        if found
    ]
    return Inspection(
        path, "lines", ",".join(reasons), "read line by line", size, _loaded_version(path), sidecar
    )


def _loaded_version(path: str) -> str | None:
    """An object's version, recorded with a readable check: a later overwrite is reported, never re-read."""
    return object_version(path)[1] if object_scheme(path) else None


def _inspect_parquet(path: str, size: int) -> Inspection:
    """Every row group is decoded: a file that fails part-way is rejected whole, never half-loaded."""
    import pyarrow.parquet as pq

    try:
        with _open(path) if object_scheme(path) else contextlib.nullcontext(path) as source:
            parquet = pq.ParquetFile(source)
            for i in range(parquet.num_row_groups):
                parquet.read_row_group(i)
    except Exception as e:  # pyarrow raises ArrowInvalid, OSError and others for damaged files
        return _reject(path, size, "invalid_parquet", redact(f"{type(e).__name__}: {e}"))
    return Inspection(path, "ok", size_bytes=size, checksum=_loaded_version(path))


def read_lines(path: str) -> Iterator[tuple[int, str, str | None]]:
    """(line_number, text, read_error) for each physical line of an NDJSON file. Lines end at ``\\n``
    only (a ``\\r`` before it belongs to the line ending); a UTF-8 byte order mark opening the file
    is dropped, as DuckDB's reader does. Text that is not UTF-8 keeps its bytes as ``\\xNN`` escapes."""
    with _open_lines_source(path) as f:
        for number, line in enumerate(f, start=1):
            line = line[:-1] if line.endswith(b"\n") else line
            line = line[:-1] if line.endswith(b"\r") else line
            if number == 1 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8) :]
            error = None
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                text, error = line.decode("utf-8", "backslashreplace"), "invalid_utf8"
            if error is None and len(line) > MAX_LINE_BYTES:
                error = "line_too_long"
            elif error is None and "\r" in text:
                error = "stray_carriage_return"
            yield number, text, error


def write_sidecar(path: str, sidecar_dir: str) -> str:
    """Read an NDJSON file line by line into a Parquet side file; return the side file's path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    Path(sidecar_dir).mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(os.fsencode(path)).hexdigest()[:32] + ".parquet"
    target = os.path.join(sidecar_dir, name)
    schema = pa.schema([("line_number", pa.int64()), ("raw", pa.large_string()), ("read_error", pa.string())])

    def flush(rows: list[tuple[int, str, str | None]]) -> None:
        columns = list(zip(*rows, strict=True))
        writer.write_table(
            pa.Table.from_arrays(
                [pa.array(c, t) for c, t in zip(columns, schema.types, strict=True)], schema=schema
            )
        )

    with pq.ParquetWriter(target + ".part", schema) as writer:
        batch: list[tuple[int, str, str | None]] = []
        for row in read_lines(path):
            batch.append(row)
            if len(batch) >= 100_000:
                flush(batch)
                batch = []
        if batch:
            flush(batch)
    os.replace(target + ".part", target)
    return target
