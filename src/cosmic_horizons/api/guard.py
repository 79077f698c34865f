"""What protects the API when it is reachable beyond loopback: a token, headers, a stream cap.

* :class:`ApiGuard` holds the optional bearer token (``HORIZONS_API_TOKEN``) and the cap on
  concurrent ``/api/stream`` clients of this process.
* :class:`GuardMiddleware` (pure ASGI, so streams are not buffered) checks the token on every
  route but ``/api/health`` and adds the headers a browser-facing page needs: a
  content-security policy that allows no inline script or style, ``nosniff``, no framing, no
  referrer. No CORS header is ever sent: other origins cannot read the API.
* :func:`require_safe_exposure` refuses a non-loopback address without a token.

The dashboard cannot send an ``Authorization`` header from ``EventSource``, so ``/?token=T``
(or ``/docs?token=T``) answers with a redirect to the same page without the token and sets an
HttpOnly, SameSite=Strict cookie holding an HMAC of the token (never the token itself). The
token is compared in constant time and never written to a response, a log line or /metrics.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import socket
import threading
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ConfigError

__all__ = [
    "COOKIE_NAME",
    "CSP",
    "DEFAULT_MAX_STREAMS",
    "TOKEN_ENV",
    "ApiGuard",
    "GuardMiddleware",
    "is_loopback",
    "require_safe_exposure",
    "token_from_env",
]

#: The environment variable holding the API's bearer token.
TOKEN_ENV = "HORIZONS_API_TOKEN"
#: The cookie the dashboard authenticates its requests (and its EventSource) with.
COOKIE_NAME = "horizons_session"
#: Concurrent /api/stream clients per process unless configured otherwise.
DEFAULT_MAX_STREAMS = 32
#: Paths answered without a token (liveness probes carry no secrets).
OPEN_PATHS = frozenset({"/api/health"})
#: Pages that accept ``?token=`` once and turn it into the session cookie.
LOGIN_PAGES = frozenset({"/", "/docs"})

#: Scripts and styles from this origin's files only: no inline code, no eval, no CDN.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_SESSION_LABEL = b"cosmic-horizons dashboard session v1"


def token_from_env() -> str | None:
    """``HORIZONS_API_TOKEN``, or None when unset or empty."""
    return os.environ.get(TOKEN_ENV) or None


@dataclass
class ApiGuard:
    """The token (None: open) and the stream cap of one app; counts the open streams."""

    token: str | None = field(default=None, repr=False)
    max_streams: int = DEFAULT_MAX_STREAMS
    _streams: int = field(default=0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_streams < 1:
            raise ConfigError(f"--max-streams {self.max_streams}: must be at least 1")
        if self.token is not None and not self.token.strip():
            self.token = None

    @property
    def streams(self) -> int:
        """Event streams open now."""
        return self._streams

    def acquire_stream(self) -> bool:
        """Take a stream slot; False when all ``max_streams`` are in use."""
        with self._lock:
            if self._streams >= self.max_streams:
                return False
            self._streams += 1
            return True

    def release_stream(self) -> None:
        with self._lock:
            self._streams = max(0, self._streams - 1)

    # -- the token ---------------------------------------------------------------------------

    def session_value(self) -> str:
        """The cookie value: an HMAC of the token, so the cookie never holds the token."""
        assert self.token is not None
        return hmac.new(self.token.encode(), _SESSION_LABEL, hashlib.sha256).hexdigest()

    def token_matches(self, candidate: str) -> bool:
        assert self.token is not None
        return hmac.compare_digest(candidate.encode(), self.token.encode())

    def authorized(self, scope: Scope) -> bool:
        """The request carries the token as a bearer header or the session cookie."""
        if self.token is None:
            return True
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, credential = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and self.token_matches(credential.strip()):
                    return True
            elif name == b"cookie":
                cookie: SimpleCookie = SimpleCookie()
                try:
                    cookie.load(value.decode("latin-1"))
                except Exception:  # a malformed cookie header is no credential
                    continue
                morsel = cookie.get(COOKIE_NAME)
                if morsel is not None and hmac.compare_digest(
                    morsel.value.encode(), self.session_value().encode()
                ):
                    return True
        return False


def is_loopback(host: str) -> bool:
    """``host`` (an address or a name) resolves to loopback addresses only."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def require_safe_exposure(host: str, token: str | None, insecure: bool) -> None:
    """Refuse a non-loopback ``host`` without a token unless ``insecure`` is set."""
    if token or insecure or is_loopback(host):
        return
    raise ConfigError(
        f"--host {host}: refusing to serve the API beyond loopback without a token; "
        f"set {TOKEN_ENV} (and --tls-cert/--tls-key), or pass --insecure if a firewall or "
        "proxy in front of it is the guard"
    )


class GuardMiddleware:
    """Checks the token (unless the path is open) and adds the security headers."""

    def __init__(self, app: ASGIApp, guard: ApiGuard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", ())
                    if not k.lower().startswith(b"access-control-")
                ]
                headers.extend(_HEADERS)
                message = {**message, "headers": headers}
            await send(message)

        path: str = scope.get("path", "")
        guard = self.guard
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = [v for k, v in query if k == "token"]
        rest = urlencode([(k, v) for k, v in query if k != "token"])
        if given:  # the server's own scope: its access log then never shows the token
            scope["query_string"] = rest.encode()
        if guard.token is None or path in OPEN_PATHS or guard.authorized(scope):
            await self.app(scope, receive, send_with_headers)
            return
        if path in LOGIN_PAGES and given and guard.token_matches(given[-1]):
            secure = "; Secure" if scope.get("scheme") == "https" else ""
            cookie = (
                f"{COOKIE_NAME}={guard.session_value()}; Path=/; HttpOnly; SameSite=Strict{secure}"
            )
            await _answer(
                send_with_headers,
                303,
                [(b"location", (path + ("?" + rest if rest else "")).encode())],
                [(b"set-cookie", cookie.encode())],
                {"detail": "token accepted; the session cookie is set"},
            )
            return
        await _answer(
            send_with_headers,
            401,
            [(b"www-authenticate", b'Bearer realm="horizons"')],
            [],
            {
                "detail": "this API needs its token: send 'Authorization: Bearer <token>', "
                f"or open /?token=<token> once in the browser ({TOKEN_ENV} on the server)"
            },
        )


async def _answer(
    send: Send,
    status: int,
    headers: list[tuple[bytes, bytes]],
    cookies: list[tuple[bytes, bytes]],
    body: dict[str, Any],
) -> None:
    content = msgspec.json.encode(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
                *cookies,
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})
