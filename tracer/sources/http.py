"""Shared plumbing for live sources (JSON-RPC nodes, explorer APIs; EVM now, Tron and Bitcoin later).

What every live source gets from here:

:class:`ResponseStore`
    An on-disk store of raw responses keyed by the request (method, URL and parameters with
    secrets stripped). Bodies are content-addressed (``blobs/ab/<sha256>``) and each request has
    an index entry (``responses/cd/<key>.json``) naming the sha256 of its body; both are written
    to a temporary file and moved into place with ``os.replace``, so a kill -9 leaves either the
    old state or the new one, never half a file. Entries are verified against their hash when
    read (a damaged one is fetched again). A re-run of the same trace is served from the store
    without touching the network, and a trace can be replayed from it as evidence.
    :meth:`ResponseStore.summary` gives the store path, the number of responses a source used and
    a sha256 over their (request key, body hash) pairs; the full list is written under
    ``runs/<digest>.json``. Without a directory the store lives in memory for the run.

:class:`HttpClient`
    HTTP with a per-provider request budget (:class:`RateBudget`, requests per second), retries
    with exponential backoff and full jitter on 429, 5xx, timeouts, dropped connections and
    malformed bodies (bounded attempts, then a one-line :class:`SourceError`), and secrets
    (API keys in query strings, headers or URL paths) kept out of store keys and messages.

:class:`JsonRpcClient`
    JSON-RPC 2.0 over :class:`HttpClient`: single calls and batches (replies matched by ``id``,
    per-item errors, missing items re-sent, batch size halved when the server refuses the batch),
    each call stored and served individually so a later batch of a different shape still hits
    the store. Errors are classified (:func:`classify_rpc_error`): rate limits and transient
    failures are retried and never stored; range/result-limit errors and other deterministic
    errors are returned to the caller as :class:`RpcError` and stored, so replaying a trace
    takes the same path offline.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tracer.sources.base import SourceError

if TYPE_CHECKING:
    from collections.abc import Collection

    from tracer.records import Transfer

STORE_VERSION = 1

#: Query-string and header names whose values are secrets (compared lower-case).
SECRET_NAMES = frozenset(
    {
        "apikey",
        "api_key",
        "api-key",
        "x-api-key",
        "key",
        "token",
        "access_token",
        "auth",
        "authorization",
        "password",
        "secret",
        "tron-pro-api-key",
        "x-apikey",
    }
)

# A URL path segment that looks like an API key or project id (Infura, Alchemy, QuickNode, Ankr):
# long, only key characters, and mixing letters with digits.
_KEYLIKE = re.compile(r"^[A-Za-z0-9_\-]{16,}$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _keylike(segment: str) -> bool:
    return bool(
        _KEYLIKE.match(segment)
        and any(c.isdigit() for c in segment)
        and any(c.isalpha() for c in segment)
    )


def one_line(text: object, limit: int = 300) -> str:
    """Collapse whitespace, cap the length: every error message is one line."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class Secrets:
    """Secret strings that must never appear in outputs, logs, store keys or messages."""

    def __init__(self, values: Iterable[str | None] = ()):
        self._values: list[str] = []
        for value in values:
            self.add(value)

    def add(self, value: str | None) -> None:
        if value and len(value) >= 4 and value not in self._values:
            self._values.append(value)
            self._values.sort(key=len, reverse=True)

    def scrub(self, text: object) -> str:
        out = str(text)
        for value in self._values:
            out = out.replace(value, "***")
        return out

    def __bool__(self) -> bool:
        return bool(self._values)


@dataclass(frozen=True)
class Endpoint:
    """A URL split into what may be shown (``public``) and what must not (``secrets``)."""

    url: str  # the real URL, secrets included: only ever handed to the HTTP library
    public: str  # secrets replaced by ***
    host: str
    secrets: tuple[str, ...]

    @property
    def loopback(self) -> bool:
        return self.host in _LOOPBACK


def parse_endpoint(url: object, what: str = "URL") -> Endpoint:
    """Validate an http(s) URL and find its secrets (userinfo, key-like path segments, key
    parameters). Raises :class:`SourceError` with a one-line message (secrets removed)."""
    if not isinstance(url, str) or not url.strip():
        raise SourceError(f"{what}: empty")
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise SourceError(f"{what}: not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        shown = text if len(text) < 40 and not _keylike(text) else text[:12] + "…"
        raise SourceError(
            f"{what}: not an http(s) URL: {shown!r} (expected e.g. http://127.0.0.1:8545)"
        )
    secrets: list[str] = []
    if parts.username:
        secrets.append(parts.username)
    if parts.password:
        secrets.append(parts.password)
    host = parts.hostname.lower()
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    if parts.username or parts.password:
        netloc = "***@" + netloc
    segments = []
    for segment in parts.path.split("/"):
        if _keylike(segment):
            secrets.append(segment)
            segments.append("***")
        else:
            segments.append(segment)
    query = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name.lower() in SECRET_NAMES or _keylike(value) and len(value) >= 24:
            if value:
                secrets.append(value)
            query.append((name, "***"))
        else:
            query.append((name, value))
    public = urlunsplit(
        (parts.scheme.lower(), netloc, "/".join(segments), urlencode(query, safe="*"), "")
    )
    return Endpoint(text, public, host, tuple(secrets))


def chain_id_option(value: object, default: int) -> int:
    """``--node-chain-id``: the id a provider knows the chain by (anvil's 31337 for a local
    Ethereum), ``default`` (the chain's own id) when not given; a bad value is a SourceError."""
    if value is None or value == "":
        return default
    text = str(value).strip().lower()
    try:
        number = int(text, 16) if text.startswith("0x") else int(text)
    except ValueError:
        number = -1
    if number <= 0:
        raise SourceError(f"--node-chain-id {one_line(value, 40)!r}: give a positive chain id")
    return number


def strip_secrets(params: Mapping[str, Any] | None) -> dict:
    """Request parameters without the secret ones (for store keys and messages)."""
    return {k: v for k, v in (params or {}).items() if str(k).lower() not in SECRET_NAMES}


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# ------------------------------------------------------------------------------------ store


class ResponseStore:
    """Raw responses keyed by the (secret-free) request, content-hashed, written atomically."""

    def __init__(self, root: str | os.PathLike | None = None, fsync: bool = False):
        self.root = Path(root).expanduser().resolve() if root is not None else None
        self.fsync = fsync
        self._memory: dict[str, tuple[str, bytes]] = {}
        self._used: dict[str, str] = {}
        self._lock = threading.Lock()
        self._counter = itertools.count()
        self.hits = 0
        self.writes = 0
        if self.root is not None:
            try:
                (self.root / "responses").mkdir(parents=True, exist_ok=True)
                (self.root / "blobs").mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise SourceError(
                    f"cache {self.root}: {error.strerror or one_line(error)}"
                ) from None

    @staticmethod
    def key(request: Mapping[str, Any]) -> str:
        """The store key of a request description (must hold no secrets)."""
        return hashlib.sha256(canonical_json(request)).hexdigest()

    def _index_path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / "responses" / key[:2] / f"{key}.json"

    def _blob_path(self, sha: str) -> Path:
        assert self.root is not None
        return self.root / "blobs" / sha[:2] / sha

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{next(self._counter)}.tmp")
        with open(tmp, "wb") as handle:
            handle.write(data)
            if self.fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)

    def get(self, key: str) -> bytes | None:
        """The stored body for ``key`` (verified against its sha256), or None."""
        with self._lock:
            hit = self._memory.get(key)
        if hit is not None:
            self._mark(key, hit[0])
            return hit[1]
        if self.root is None:
            return None
        try:
            entry = json.loads(self._index_path(key).read_bytes())
            sha = entry["sha256"]
            body = self._blob_path(sha).read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if hashlib.sha256(body).hexdigest() != sha:
            return None  # damaged on disk: fetch again
        self._mark(key, sha)
        return body

    def put(self, key: str, request: Mapping[str, Any], body: bytes, info: dict | None = None):
        """Store ``body`` as the response to ``request``; returns its sha256."""
        sha = hashlib.sha256(body).hexdigest()
        if self.root is None:
            with self._lock:
                self._memory[key] = (sha, body)
        else:
            try:
                blob = self._blob_path(sha)
                if not blob.is_file():
                    self._write(blob, body)
                entry = {"v": STORE_VERSION, "request": request, "sha256": sha, "bytes": len(body)}
                if info:
                    entry.update(info)
                self._write(self._index_path(key), canonical_json(entry))
            except OSError as error:
                raise SourceError(
                    f"cache {self.root}: cannot write ({error.strerror or one_line(error)})"
                ) from None
        with self._lock:
            self.writes += 1
        self._mark(key, sha, hit=False)
        return sha

    def _mark(self, key: str, sha: str, hit: bool = True) -> None:
        with self._lock:
            self._used[key] = sha
            if hit:
                self.hits += 1

    def used(self) -> dict[str, str]:
        with self._lock:
            return dict(self._used)

    def summary(self) -> dict:
        """Path, number of responses used and a sha256 over the sorted (key, body sha256) pairs.

        With a directory, the pairs are also written to ``runs/<sha256>.json`` (evidence: every
        response the trace rests on, each checkable against ``blobs/``)."""
        used = sorted(self.used().items())
        listing = "".join(f"{k} {v}\n" for k, v in used).encode()
        digest = hashlib.sha256(listing).hexdigest()
        if self.root is not None and used:
            path = self.root / "runs" / f"{digest}.json"
            if not path.is_file():
                try:
                    self._write(path, canonical_json({"v": STORE_VERSION, "responses": dict(used)}))
                except OSError:
                    pass  # the digest in the manifest still names the responses
        return {
            "path": str(self.root) if self.root is not None else None,
            "responses": len(used),
            "responses_sha256": digest,
        }


# ------------------------------------------------------------------------------------ budget


class RateBudget:
    """At most ``rps`` requests per second (evenly spaced); None or 0 means no limit.

    ``clock``/``sleep`` default to :func:`time.monotonic`/:func:`time.sleep` (tests pass fakes)."""

    def __init__(self, rps: float | None, clock=time.monotonic, sleep=time.sleep):
        if rps is not None and (
            isinstance(rps, bool) or not isinstance(rps, (int, float)) or rps < 0
        ):
            raise SourceError(f"--rps must be a positive number, not {rps!r}")
        self.rps = float(rps) if rps else None
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> None:
        if not self.rps:
            return
        interval = 1.0 / self.rps
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + interval
            wait = slot - now
            self.waited += wait
        if wait > 0:
            self._sleep(wait)


# ------------------------------------------------------------------------------------ http


class Retry(Exception):
    """Raised by a response parser: transient failure, try again (not stored)."""

    def __init__(self, reason: str, after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.after = after


class Fail(Exception):
    """Raised by a response parser: permanent failure, becomes a SourceError."""


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    value = (headers or {}).get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


@dataclass
class Fetched:
    value: Any
    sha256: str | None
    from_store: bool


class _ScrubLogs(logging.Filter):
    """Scrubs secrets from the HTTP libraries' own log records (urllib3 logs request URLs,
    query strings included, at DEBUG level)."""

    def __init__(self, secrets: Secrets):
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            try:
                text = record.getMessage()
            except Exception:  # a malformed record: leave it to logging
                return True
            record.msg, record.args = self.secrets.scrub(text), ()
        return True


_LOG_SECRETS = Secrets()
_LOG_FILTER = _ScrubLogs(_LOG_SECRETS)


def _scrub_library_logs(secrets: Secrets) -> None:
    """Register ``secrets`` with the one filter on the HTTP libraries' loggers."""
    for value in secrets._values:
        _LOG_SECRETS.add(value)
    if _LOG_SECRETS:
        for name in ("urllib3.connectionpool", "urllib3", "requests"):
            logger = logging.getLogger(name)
            if _LOG_FILTER not in logger.filters:
                logger.addFilter(_LOG_FILTER)


class HttpClient:
    """HTTP for one provider: store first, then the network under the budget, with retries."""

    def __init__(
        self,
        name: str,
        endpoint: Endpoint,
        *,
        store: ResponseStore | None = None,
        rps: float | None = None,
        timeout: float = 30.0,
        retries: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        headers: Mapping[str, str] | None = None,
        secrets: Secrets | None = None,
    ):
        import requests  # deferred: the CLI starts without it

        self.name = name
        self.endpoint = endpoint
        self.store = store if store is not None else ResponseStore()
        self.budget = RateBudget(rps)
        if not isinstance(retries, int) or retries < 1:
            raise SourceError(f"retries must be a positive integer, not {retries!r}")
        self.timeout = float(timeout)
        self.retries = retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.secrets = secrets if secrets is not None else Secrets()
        for secret in endpoint.secrets:
            self.secrets.add(secret)
        _scrub_library_logs(self.secrets)
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": "tracer"})
        self.session.headers.update(dict(headers or {}))
        self._requests = requests
        self._rng = random.Random()
        self._ok = False  # has any request succeeded (connection errors fail fast before that)
        self._lock = threading.Lock()
        self.sent = 0  # HTTP requests sent (not served from the store)
        self.retried = 0

    def fail(self, message: str) -> SourceError:
        return SourceError(one_line(self.secrets.scrub(f"{self.name} {message}")))

    def sleep_backoff(self, attempt: int, after: float | None = None) -> None:
        delay = min(self.max_backoff, self.backoff * (2**attempt))
        delay = self._rng.uniform(delay / 2, delay)  # jitter
        if after is not None:
            delay = max(delay, min(after, self.max_backoff))
        if delay > 0:
            time.sleep(delay)

    def send(self, method: str, url: str, **kwargs):
        """One HTTP exchange under the budget: (status, body, headers) or Retry."""
        requests = self._requests
        self.budget.acquire()
        with self._lock:
            self.sent += 1
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            body = response.content
        except requests.exceptions.Timeout:
            raise Retry("timed out") from None
        except requests.exceptions.ConnectionError as error:
            text = str(error).lower()
            if not self._ok and ("refused" in text or "name or service" in text):
                raise Fail("cannot connect (connection refused or unknown host)") from None
            raise Retry("connection failed") from None
        except requests.exceptions.RequestException as error:
            raise Retry(f"request failed ({type(error).__name__})") from None
        return response.status_code, body, response.headers

    def fetch(
        self,
        method: str,
        url: str,
        *,
        key: Mapping[str, Any] | None,
        parse: Callable[[int, bytes, Mapping[str, str]], Any],
        what: str = "request",
        **kwargs,
    ) -> Fetched:
        """Serve ``key`` from the store, else send the request and parse it; retry transient
        failures (the parser raises :class:`Retry`), store what parses. ``key`` None: no store."""
        store_key = ResponseStore.key(key) if key is not None else None
        if store_key is not None:
            body = self.store.get(store_key)
            if body is not None:
                try:
                    return Fetched(parse(200, body, {}), None, True)
                except (Retry, Fail):
                    pass  # a stored body the parser now rejects: fetch again
        reason = "no attempt"
        connect_failures = 0
        for attempt in range(self.retries):
            after = None
            try:
                status, body, headers = self.send(method, url, **kwargs)
                value = parse(status, body, headers)
            except Retry as retry:
                reason, after = retry.reason, retry.after
                if reason == "connection failed" and not self._ok:
                    connect_failures += 1
                    if connect_failures >= 2:
                        raise self.fail(
                            f"{what}: cannot connect to {self.endpoint.public}"
                        ) from None
            except Fail as error:
                raise self.fail(f"{what}: {error}") from None
            else:
                self._ok = True
                sha = None
                if store_key is not None:
                    sha = self.store.put(store_key, dict(key), body)
                return Fetched(value, sha, False)
            if attempt + 1 < self.retries:
                with self._lock:
                    self.retried += 1
                self.sleep_backoff(attempt, after)
        raise self.fail(f"{what}: failed after {self.retries} attempts ({reason})")


# ------------------------------------------------------------------------------------ JSON-RPC


class RpcError(Exception):
    """A JSON-RPC error object returned for one call (deterministic: the caller decides)."""

    def __init__(self, code: Any, message: str, data: Any = None, kind: str = "final"):
        super().__init__(message)
        self.code = code
        self.message = str(message)
        self.data = data
        self.kind = kind  # "limit" (range/result limit) or "final"

    @property
    def is_limit(self) -> bool:
        return self.kind == "limit"

    def __str__(self) -> str:
        return one_line(f"{self.code}: {self.message}")


_RATE = re.compile(
    r"rate.?limit|rate exceeded|request rate|too many requests|capacity|throughput|"
    r"exceeded its|request count|throttl|slow down|credits|per second|backoff",
    re.I,
)
_LIMIT = re.compile(
    r"block range|range|more than \d|returned more than|too many (results|logs)|"
    r"response size|too (wide|large)|limit|exceed|narrow your filter|max(imum)? results|"
    r"results? window|distance|maximum|timeout|timed out",
    re.I,
)
_TRANSIENT = re.compile(
    r"header not found|unknown block|timeout|timed out|unavailable|busy|try again|temporar|"
    r"internal server|connection|reset|overloaded|service",
    re.I,
)
_BATCH_TOO_BIG = re.compile(
    r"batch (size |limit)|batch.*exceed|exceeds.*batch|too many requests in batch|"
    r"response too large|max-batch",
    re.I,
)
_NO_STORE = re.compile(r"timeout|timed out", re.I)


#: Methods whose cost grows with the block range: a limit error means "split the range".
RANGE_METHODS = frozenset({"eth_getLogs", "trace_filter", "eth_newFilter"})


def classify_rpc_error(error: Mapping, http_status: int = 200, method: str = "") -> str:
    """``rate`` (back off, retry), ``batch`` (shrink the batch, retry), ``transient`` (retry),
    ``limit`` (a range/result limit on a range query: split it) or ``final`` (deterministic).

    Provider codes overlap (Infura's -32005 is both its result limit and its rate limit), so the
    message decides, as API_NOTES 5.2/5.3 advise. A timeout is a limit for a range query (a
    smaller range helps) and transient for anything else."""
    code = error.get("code")
    message = str(error.get("message", ""))
    if http_status == 429 or code == 429 or _RATE.search(message):
        return "rate"
    if code == -32003 or _BATCH_TOO_BIG.search(message):
        return "batch"
    if method in RANGE_METHODS and code != -32601 and _LIMIT.search(message):
        return "limit"
    if _TRANSIENT.search(message) or (isinstance(code, int) and http_status >= 500):
        return "transient"
    return "final"


def _decode_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Retry("malformed body") from None


class JsonRpcClient:
    """JSON-RPC 2.0 client: per-call store entries, batches, retries, error classification."""

    def __init__(
        self,
        url: str | Endpoint,
        *,
        name: str | None = None,
        store: ResponseStore | None = None,
        rps: float | None = None,
        timeout: float = 30.0,
        retries: int = 6,
        backoff: float = 0.5,
        batch_size: int = 100,
        headers: Mapping[str, str] | None = None,
        classify: Callable[[Mapping, int, str], str] = classify_rpc_error,
    ):
        endpoint = url if isinstance(url, Endpoint) else parse_endpoint(url, "--rpc-url")
        self.http = HttpClient(
            name or f"rpc ({endpoint.public})",
            endpoint,
            store=store,
            rps=rps,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            headers={"Content-Type": "application/json", **dict(headers or {})},
        )
        self.endpoint = endpoint
        self.store = self.http.store
        self.batch_size = max(1, int(batch_size))
        self.classify = classify
        self.calls = 0  # JSON-RPC calls sent over the network (batch items counted one by one)
        self.served = 0  # calls served from the store

    def _key(self, method: str, params: Any) -> dict:
        return {"api": "jsonrpc", "url": self.endpoint.public, "method": method, "params": params}

    def call(self, method: str, params: list | None = None, *, cache: bool = True) -> Any:
        """The result of one call; raises :class:`RpcError` for an error reply."""
        (outcome,) = self.batch([(method, params or [])], cache=cache)
        if isinstance(outcome, RpcError):
            raise outcome
        return outcome

    def _stored(self, key: str) -> Any:
        body = self.store.get(key)
        if body is None:
            return None
        try:
            item = json.loads(body)
        except ValueError:
            return None
        if "error" in item:
            err = item["error"] or {}
            kind = item.get("kind", "final")
            return RpcError(err.get("code"), err.get("message", ""), err.get("data"), kind)
        return ("ok", item.get("result"))

    def batch(self, calls: list[tuple[str, Any]], *, cache: bool = True) -> list[Any]:
        """Results (or :class:`RpcError` objects) for ``calls``, in order."""
        outcomes: list[Any] = [None] * len(calls)
        done = [False] * len(calls)
        keys: list[str | None] = [None] * len(calls)
        pending: list[int] = []
        for i, (method, params) in enumerate(calls):
            if cache:
                keys[i] = ResponseStore.key(self._key(method, params))
                hit = self._stored(keys[i])
                if hit is not None:
                    outcomes[i] = hit[1] if isinstance(hit, tuple) else hit
                    done[i] = True
                    self.served += 1
                    continue
            pending.append(i)
        attempts = dict.fromkeys(pending, 0)
        reason = ""
        while pending:
            chunk = pending[: self.batch_size]
            rest = pending[self.batch_size :]
            retry: list[int] = []
            after = None
            try:
                replies = self._send(calls, chunk)
            except Fail as error:
                raise self.http.fail(f"{calls[chunk[0]][0]}: {error}") from None
            except Retry as r:
                reason, after = r.reason, r.after
                retry = chunk
            except _ShrinkBatch as s:
                self.batch_size = max(1, len(chunk) // 2)
                reason = s.reason
                pending = chunk + rest
                continue
            else:
                for i in chunk:
                    item = replies.get(i)
                    verdict = self._take(calls, i, item, outcomes, keys)
                    if verdict == "done":
                        done[i] = True
                    elif verdict == "batch":
                        self.batch_size = max(1, min(self.batch_size, len(chunk)) // 2)
                        retry.append(i)
                        reason = "response too large for one batch"
                    else:
                        retry.append(i)
                        reason = verdict
            for i in retry:
                attempts[i] += 1
                if attempts[i] >= self.http.retries:
                    method = calls[i][0]
                    raise self.http.fail(
                        f"{method}: failed after {self.http.retries} attempts ({reason})"
                    )
            pending = retry + rest
            if retry:
                with self.http._lock:
                    self.http.retried += 1
                self.http.sleep_backoff(max(attempts[i] for i in retry) - 1, after)
        return outcomes

    def _send(self, calls, chunk: list[int]) -> dict[int, Mapping]:
        payload: Any = [
            {"jsonrpc": "2.0", "id": i, "method": calls[i][0], "params": calls[i][1]} for i in chunk
        ]
        single = len(payload) == 1
        if single:
            payload = payload[0]
        status, body, headers = self.http.send(
            "POST", self.endpoint.url, data=canonical_json(payload)
        )
        self.calls += len(chunk)
        if status == 429:
            raise Retry("HTTP 429 (rate limited)", retry_after(headers))
        try:
            reply = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            if status in (408, 425) or status >= 500:
                raise Retry(f"HTTP {status}") from None
            if 400 <= status < 500:
                raise Fail(f"HTTP {status} from {self.endpoint.public}") from None
            raise Retry("malformed body") from None
        if isinstance(reply, dict) and not single:
            # one object for a whole batch: the batch was refused (too big, rate limited, ...)
            err = reply.get("error") if isinstance(reply.get("error"), dict) else {}
            kind = self.classify(err, status, calls[chunk[0]][0] if len(chunk) == 1 else "")
            if kind == "rate":
                raise Retry("rate limited", retry_after(headers))
            if len(chunk) > 1 and kind in ("batch", "limit", "final"):
                raise _ShrinkBatch(one_line(err.get("message", "batch refused")))
            raise Retry(one_line(err.get("message", f"HTTP {status}")))
        if single:
            if not isinstance(reply, dict):
                raise Retry("malformed body")
            reply = [reply]
        if not isinstance(reply, list):
            raise Retry("malformed body")
        if status >= 400 and not any(isinstance(r, dict) and "error" in r for r in reply):
            raise Retry(f"HTTP {status}")
        self.http._ok = True
        by_id: dict[int, Mapping] = {}
        for item in reply:
            if isinstance(item, dict) and isinstance(item.get("id"), int):
                by_id[item["id"]] = {**item, "_http": status}
            elif single and isinstance(item, dict) and "error" in item:
                by_id[chunk[0]] = {**item, "_http": status}
        return by_id

    def _take(self, calls, i: int, item: Mapping | None, outcomes, keys) -> str:
        """Record one reply item: 'done', or why it must be sent again."""
        if item is None:
            return "missing from the batch reply"
        if "result" in item and "error" not in item:
            outcomes[i] = item["result"]
            if keys[i] is not None:
                self.store.put(
                    keys[i], self._key(*calls[i]), canonical_json({"result": item["result"]})
                )
            return "done"
        err = item.get("error")
        if not isinstance(err, dict):
            return "malformed reply item"
        kind = self.classify(err, item.get("_http", 200), calls[i][0])
        if kind == "rate":
            return "rate limited"
        if kind == "batch":
            return "batch"
        if kind == "transient":
            return one_line(err.get("message", "transient error"), 120)
        outcomes[i] = RpcError(err.get("code"), err.get("message", ""), err.get("data"), kind)
        if keys[i] is not None and not _NO_STORE.search(str(err.get("message", ""))):
            body = {"error": {k: err[k] for k in ("code", "message", "data") if k in err}}
            body["kind"] = kind
            self.store.put(keys[i], self._key(*calls[i]), canonical_json(body))
        return "done"


class _ShrinkBatch(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def is_loopback(url: str) -> bool:
    try:
        return (urlsplit(url).hostname or "").lower() in _LOOPBACK
    except ValueError:
        return False


_EVM_ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")


class LiveSource:
    """The frontier surface every live source shares (JSON-RPC, Etherscan, TronGrid).

    A subclass fetches per-address histories in :meth:`_histories` (``{address: [Transfer]}``,
    each request through its :class:`HttpClient` ``self.http``), keeps token metadata in
    ``self._tokens`` and, for non-EVM chains, validates addresses in :meth:`_address`. This
    class turns that into :meth:`transfers` / :meth:`degrees` for a whole frontier (each
    transfer once, in chain order) and closes the HTTP session.
    """

    http: HttpClient
    _tokens: dict[str, tuple[str, int | None]]

    def _evm_chain(self, kind: str, chain: str, node_chain_id: object = None) -> None:
        """Set ``chain``, ``chain_id``, ``node_chain_id`` (the id the provider knows the chain
        by, ``--node-chain-id``) and ``native_decimals`` of an EVM chain; else SourceError."""
        from tracer.chains import UnknownChain, get_chain

        try:
            info = get_chain(chain)
        except UnknownChain as error:
            raise SourceError(str(error)) from None
        if info.kind != "evm" or info.chain_id is None:
            raise SourceError(f"--source {kind} reads EVM chains; {chain!r} is not one")
        self.chain = info.name
        self.chain_id = info.chain_id
        self.node_chain_id = chain_id_option(node_chain_id, info.chain_id)
        self.native_decimals = info.native_decimals

    def _chain_ids(self) -> dict:
        """The fingerprint's chain id, with the node's own where it differs."""
        ids = {"chain_id": self.chain_id}
        if self.node_chain_id != self.chain_id:
            ids["node_chain_id"] = self.node_chain_id
        return ids

    def _address(self, text: str) -> str:
        """A frontier address in the source's canonical form (EVM: lower-case hex)."""
        address = str(text).strip().lower()
        if not _EVM_ADDRESS.match(address):
            raise SourceError(f"not an EVM address: {address[:50]!r}")
        return address

    def _frontier(self, addresses: Collection[str] | str) -> list[str]:
        if isinstance(addresses, str):
            addresses = [addresses]
        return sorted({self._address(a) for a in addresses if a and str(a).strip()})

    def _histories(
        self, frontier: list[str], since: int | None, until: int | None
    ) -> dict[str, list[Transfer]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def transfers(
        self,
        addresses: Collection[str],
        since: int | None = None,
        until: int | None = None,
    ) -> list[Transfer]:
        """Every transfer touching ``addresses`` in the range and [since, until], in chain order,
        each transfer once (failed ones included, ``success=False``)."""
        frontier = self._frontier(addresses)
        histories = self._histories(frontier, since, until)
        keyed = {t.transfer_id: t for a in frontier for t in histories[a]}
        return sorted(keyed.values(), key=lambda t: (t.position, t.transfer_id))

    def degrees(
        self, addresses: Collection[str], since: int | None = None, until: int | None = None
    ) -> dict[str, int]:
        """Transfers per address (the histories are fetched once; :meth:`transfers` reuses
        them: a live API has no cheap count)."""
        frontier = self._frontier(addresses)
        histories = self._histories(frontier, since, until)
        return {a: len(histories[a]) for a in frontier}

    def token_symbols(self) -> dict[str, tuple[str, int | None]]:
        return {a: v for a, v in sorted(self._tokens.items()) if v[0]}

    def close(self) -> None:
        self.http.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def source_options(kind: str, options: Mapping[str, Any], allowed: Iterable[str]) -> dict:
    """The options of ``--source kind`` that were given; a name it does not take is an error."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise SourceError(f"--source {kind} does not take {', '.join(unknown)}")
    return {k: v for k, v in options.items() if v is not None}


__all__ = [
    "Endpoint",
    "Fail",
    "Fetched",
    "HttpClient",
    "JsonRpcClient",
    "LiveSource",
    "RateBudget",
    "ResponseStore",
    "Retry",
    "RpcError",
    "Secrets",
    "SourceError",
    "canonical_json",
    "RANGE_METHODS",
    "classify_rpc_error",
    "one_line",
    "parse_endpoint",
    "retry_after",
    "source_options",
    "strip_secrets",
]
