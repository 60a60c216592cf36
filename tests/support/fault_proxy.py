"""An HTTP proxy in front of the emulator that injects AWS faults, for the fault-injection tests.

bakery's boto3 clients and the real Packer both reach AWS through `aws.endpoint_url` of
bakery.yaml (`route_project_through`); pointed at this proxy, every call passes it. The proxy
forwards each request to the emulator unchanged and answers with the emulator's answer, unless
a rule matches the call: by AWS action (the `Action=` of a query-protocol form, as EC2 and the
query services send it; the operation of a JSON protocol's `X-Amz-Target` header, as SSM sends
it) and, optionally, by region (the SigV4 credential scope `KEY/DATE/REGION/SERVICE/aws4_request`
of the `Authorization` header). A rule then

- `fail`s the call N times with an HTTP status and an AWS error body (EC2's XML for query
  protocols, `{"__type": ...}` for JSON ones), as throttling or a 503 `Unavailable` answers;
- `drop`s the answer N times: the call reaches the emulator and takes effect, then the
  connection is closed without a byte of answer (the "lost response");
- `hold`s the call N times until the test releases it (`Hold.release`), so a Packer step lasts
  as long as the test wants without sleeping against the clock; the call is forwarded then.

Every call is counted per action and region (`seen`), faulted or not, and the access keys of
the callers are kept (`access_keys`), to check that local mode signs with dummy credentials.
The proxy listens on 127.0.0.1 only, on a free port; `fault_proxy` starts and stops it.
"""

from __future__ import annotations

import http.client
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import yaml

LOOPBACK = "127.0.0.1"
HOLD_LIMIT = 300.0  # seconds a held call waits at most, so a failed test never hangs its server
_SCOPE = re.compile(r"Credential=([^/,\s]+)/[0-9]{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
# Headers of one hop, which a proxy does not pass on (RFC 9110, section 7.6.1).
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


@dataclass(frozen=True)
class Call:
    """One request as the proxy saw it: the AWS action, region, service and access key."""

    action: str
    region: str
    service: str
    access_key: str
    json_protocol: bool


@dataclass(frozen=True)
class Fault:
    """An answer given instead of the emulator's: an HTTP status and an AWS error code."""

    status: int
    code: str
    message: str

    def body(self, call: Call) -> tuple[bytes, str]:
        """Return the error body and its content type, in the protocol of the call."""
        if call.json_protocol:
            text = f'{{"__type": "{self.code}", "message": "{self.message}"}}'
            return text.encode(), "application/x-amz-json-1.1"
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message>"
            "</Error></Errors><RequestID>fault-proxy</RequestID></Response>"
        )
        return xml.encode(), "text/xml;charset=UTF-8"


THROTTLING = Fault(503, "RequestLimitExceeded", "Request limit exceeded.")
UNAVAILABLE = Fault(503, "Unavailable", "The service is unavailable. Please try again shortly.")


class Hold:
    """Calls held by one rule: how many arrived, and the event that lets them go on."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self._arrived = 0
        self._changed = threading.Condition()

    def arrive(self) -> None:
        with self._changed:
            self._arrived += 1
            self._changed.notify_all()

    @property
    def arrived(self) -> int:
        with self._changed:
            return self._arrived

    def wait_arrived(self, count: int, timeout: float = 60.0) -> bool:
        """Wait until `count` calls are held (or released after being held); False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._arrived >= count, timeout)

    def release(self) -> None:
        """Let every held call (and every later one of this rule) go on to the emulator."""
        self.released.set()


@dataclass
class Rule:
    """What to do with the next `times` calls of `action` (in `region`, when one is given)."""

    action: str
    region: str | None
    times: int
    fault: Fault | None = None
    drop: bool = False
    hold: Hold | None = None
    used: int = 0

    def takes(self, call: Call) -> bool:
        return (
            self.used < self.times
            and call.action == self.action
            and (self.region is None or call.region == self.region)
        )


@dataclass
class FaultProxy:
    """The rules, the counts, and the address of a running proxy (see `fault_proxy`)."""

    upstream: str
    port: int = 0
    rules: list[Rule] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def fail(
        self, action: str, times: int = 1, fault: Fault = THROTTLING, region: str | None = None
    ) -> None:
        """Answer the next `times` calls of `action` with `fault` instead of forwarding them."""
        self._add(Rule(action, region, times, fault=fault))

    def drop(self, action: str, times: int = 1, region: str | None = None) -> None:
        """Forward the next `times` calls of `action`, then close without answering."""
        self._add(Rule(action, region, times, drop=True))

    def hold(self, action: str, times: int = 1, region: str | None = None) -> Hold:
        """Keep the next `times` calls of `action` until the returned hold is released."""
        hold = Hold()
        self._add(Rule(action, region, times, hold=hold))
        return hold

    def seen(self, action: str, region: str | None = None) -> int:
        """Return how many calls of `action` (in `region`) arrived, faulted ones included."""
        with self.lock:
            return sum(
                1
                for call in self.calls
                if call.action == action and (region is None or call.region == region)
            )

    def counts(self) -> Counter[str]:
        """Return the calls seen per action."""
        with self.lock:
            return Counter(call.action for call in self.calls)

    def access_keys(self) -> set[str]:
        """Return the access keys the calls were signed with."""
        with self.lock:
            return {call.access_key for call in self.calls if call.access_key}

    def release_all(self) -> None:
        with self.lock:
            holds = [rule.hold for rule in self.rules if rule.hold is not None]
        for hold in holds:
            hold.release()

    def _add(self, rule: Rule) -> None:
        with self.lock:
            self.rules.append(rule)

    def _arrived(self, call: Call) -> Rule | None:
        with self.lock:
            self.calls.append(call)
            for rule in self.rules:
                if rule.takes(call):
                    rule.used += 1
                    return rule
        return None


def describe_call(headers: Any, query: str, body: bytes) -> Call:
    """Read the AWS action, region, service and access key of a request."""
    target = headers.get("X-Amz-Target")
    if target:
        action, json_protocol = str(target).rsplit(".", 1)[-1], True
    else:
        form = urllib.parse.parse_qs(query)
        content_type = str(headers.get("Content-Type") or "")
        if body and "x-www-form-urlencoded" in content_type:
            form.update(urllib.parse.parse_qs(body.decode("utf-8", "replace")))
        action, json_protocol = (form.get("Action") or [""])[0], False
    scope = _SCOPE.search(str(headers.get("Authorization") or ""))
    key, region, service = scope.groups() if scope else ("", "", "")
    return Call(action, region, service, key, json_protocol)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs expect
    server: _Server

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        proxy = self.server.proxy
        body = self._read_body()
        parsed = urllib.parse.urlsplit(self.path)
        call = describe_call(self.headers, parsed.query, body)
        rule = proxy._arrived(call)
        if rule is not None and rule.fault is not None:
            data, content_type = rule.fault.body(call)
            self.send_response(rule.fault.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if rule is not None and rule.hold is not None:
            rule.hold.arrive()
            rule.hold.released.wait(HOLD_LIMIT)
        status, headers, answer = self._forward(proxy.upstream, body)
        if rule is not None and rule.drop:
            self.close_connection = True  # the call took effect; its answer is lost
            return
        try:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        except OSError:  # the caller gave up meanwhile (a cancelled Packer, say)
            self.close_connection = True

    def _read_body(self) -> bytes:
        if "chunked" in str(self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self, upstream: str, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        target = urllib.parse.urlsplit(upstream)
        connection = http.client.HTTPConnection(target.hostname or LOOPBACK, target.port, 120)
        headers = {
            name: value
            for name, value in self.headers.items()
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length"
        }
        headers["Content-Length"] = str(len(body))
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            return answer.status, answer.getheaders(), answer.read()
        finally:
            connection.close()

    def log_message(self, format: str, *args: object) -> None:
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, proxy: FaultProxy) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.proxy = proxy


@contextmanager
def fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    """Run a fault proxy in front of `upstream` (the emulator's URL) until the block ends."""
    proxy = FaultProxy(upstream)
    server = _Server(proxy)
    proxy.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield proxy
    finally:
        proxy.release_all()  # no held call outlives the test
        server.shutdown()
        thread.join()
        server.server_close()


def route_project_through(root: Path, proxy: FaultProxy) -> None:
    """Point the project at `root` (bakery and its Packer builds) at the proxy."""
    path = root / "bakery.yaml"
    data = yaml.safe_load(path.read_text()) or {}
    data.setdefault("aws", {})["endpoint_url"] = proxy.url
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@contextmanager
def proxied_project(root: Path) -> Iterator[FaultProxy]:
    """Put a fault proxy between the project at `root` and its running emulator."""
    from bakery.local import launcher

    emulator = launcher.status(root)
    assert emulator is not None, f"no emulator runs for {root}"
    with fault_proxy(emulator.endpoint_url) as proxy:
        route_project_through(root, proxy)
        yield proxy
