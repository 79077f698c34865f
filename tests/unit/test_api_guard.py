"""The API's guard: token, security headers, no CORS, TLS, the stream cap, exposure, NODELAY.

No broker is needed (the app polls a dead address), so these run the same on every engine.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from cosmic_horizons.api import ApiServer, ApiState, create_app
from cosmic_horizons.api.guard import COOKIE_NAME, ApiGuard, is_loopback, require_safe_exposure
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.errors import ConfigError
from cosmic_horizons.monitor import Monitor

TOKEN = "s3cr3t-token-for-tests-0123456789"


def make_state() -> ApiState:
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1")  # dead: the poller gives up fast
    return ApiState(settings=settings, monitor=Monitor(settings, timeout=1.0), poll_interval=0.5)


@contextmanager
def serving(guard: ApiGuard | None = None, **server: object) -> Iterator[ApiServer]:
    state = make_state()
    try:
        with ApiServer(create_app(state, guard), port=0, **server) as running:  # type: ignore[arg-type]
            yield running
    finally:
        state.monitor.close()


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_every_route_but_health_needs_the_token_and_never_echoes_it() -> None:
    seen: list[str] = []
    guard = ApiGuard(token=TOKEN)
    # The server's own loggers (uvicorn configures them at start, so the handler goes in after).
    server_logs = Lines()
    loggers = [logging.getLogger(n) for n in ("uvicorn.error", "uvicorn.access", "cosmic_horizons")]
    with (
        serving(guard, access_log=True, log_level="debug") as server,
        httpx.Client(base_url=server.url) as client,
    ):
        for logger in loggers:
            logger.addHandler(server_logs)
        assert client.get("/api/health").status_code == 200
        for path in ("/", "/docs", "/api/ready", "/api/topics", "/metrics", "/openapi.json"):
            response = client.get(path)
            assert response.status_code == 401, path
            assert "Bearer" in response.json()["detail"]
            wrong = client.get(path, headers={"Authorization": "Bearer " + TOKEN[:-1] + "X"})
            assert wrong.status_code == 401, path
            seen += [response.text, str(response.headers), wrong.text, str(wrong.headers)]
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        for path in ("/api/topics", "/openapi.json", "/metrics", "/static/app.js"):
            response = client.get(path, headers=bearer)
            assert response.status_code == 200, path
            seen += [response.text, str(response.headers)]
        # The dashboard's way in: ?token= once, then a cookie (not the token) on every request.
        login = client.get("/?token=" + TOKEN, follow_redirects=False)
        assert login.status_code == 303 and login.headers["location"] == "/"
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        seen += [login.text, str(login.headers)]
        assert client.cookies.get(COOKIE_NAME)
        assert client.get("/").status_code == 200
        assert client.get("/api/ready").status_code in (200, 503)  # authorized; broker is dead
        # ?token= opens the pages only; an API client sends the header.
        assert httpx.get(server.url + "/api/topics?token=" + TOKEN).status_code == 401
        assert httpx.get(server.url + "/?token=wrong", follow_redirects=False).status_code == 401
    for logger in loggers:
        logger.removeHandler(server_logs)
    access = [line for line in server_logs.lines if '"GET /' in line]
    assert [line for line in access if "303" in line], server_logs.lines  # the log was caught
    seen += server_logs.lines
    assert not [s for s in seen if TOKEN in s]


def test_security_headers_and_no_cors() -> None:
    with serving() as server, httpx.Client(base_url=server.url) as client:
        evil = {"Origin": "http://evil.example"}
        for path in ("/", "/api/health", "/static/app.js", "/api/nope"):
            response = client.get(path, headers=evil)
            csp = response.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
            assert "frame-ancestors 'none'" in csp
            assert response.headers["x-content-type-options"] == "nosniff"
            assert not [h for h in response.headers if h.lower().startswith("access-control-")]
        preflight = client.options(
            "/api/health", headers={**evil, "Access-Control-Request-Method": "GET"}
        )
        assert "access-control-allow-origin" not in preflight.headers


def test_no_inline_script_or_style_in_the_pages() -> None:
    static = Path(__file__).resolve().parents[2] / "src/cosmic_horizons/api/static"
    for page in static.glob("*.html"):
        text = page.read_text()
        assert "<style" not in text and " style=" not in text, page.name
        assert " on" not in text.replace(" only", "").split("<body")[0], page.name
        for tag in text.split("<script")[1:]:
            assert tag.lstrip().startswith("src="), page.name


def test_the_stream_cap_answers_503_beyond_it_and_frees_closed_slots() -> None:
    cap = 3
    guard = ApiGuard(max_streams=cap)
    with serving(guard) as server, ExitStack() as streams:
        client = streams.enter_context(httpx.Client(base_url=server.url, timeout=10.0))
        opened = []
        for _ in range(cap):
            response = streams.enter_context(client.stream("GET", "/api/stream"))
            assert response.status_code == 200
            chunks = response.iter_bytes()  # kept: a dropped iterator closes its response
            assert next(chunks).startswith(b"retry:")
            opened.append((response, chunks))
        assert guard.streams == cap
        beyond = client.get("/api/stream")
        assert beyond.status_code == 503
        assert beyond.headers["content-type"].startswith("application/json")
        assert f"allows {cap} at once" in beyond.json()["detail"]
        opened[0][0].close()
        deadline = time.monotonic() + 10
        while guard.streams >= cap:
            assert time.monotonic() < deadline, "a closed stream kept its slot"
            time.sleep(0.05)
        with client.stream("GET", "/api/stream") as again:
            assert again.status_code == 200
        streams.close()
        deadline = time.monotonic() + 10
        while guard.streams:
            assert time.monotonic() < deadline, f"{guard.streams} slots leaked"
            time.sleep(0.05)


def test_accepted_connections_have_tcp_nodelay() -> None:
    with serving() as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/api/health").status_code == 200  # the connection stays open
        sockets = server.connection_sockets()
        assert sockets
        for sock in sockets:
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_tls_with_a_self_signed_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    with serving(ApiGuard(token=TOKEN), tls_cert=cert, tls_key=key) as server:
        assert server.url.startswith("https://127.0.0.1:")
        trusting = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=server.url, verify=trusting) as client:
            assert client.get("/api/health").json()["status"] == "ok"
            login = client.get("/?token=" + TOKEN, follow_redirects=False)
            assert "; Secure" in login.headers["set-cookie"]
        with httpx.Client(base_url=server.url) as untrusting, pytest.raises(httpx.ConnectError):
            untrusting.get("/api/health")


def test_tls_options_must_come_together(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--tls-cert and --tls-key go together"):
        ApiServer(create_app(make_state()), port=0, tls_cert=tmp_path / "c.pem")
    with pytest.raises(ConfigError, match=r"--tls-key .*missing\.pem: no such file"):
        (tmp_path / "c.pem").write_text("x")
        ApiServer(
            create_app(make_state()), port=0, tls_cert=tmp_path / "c.pem",
            tls_key=tmp_path / "missing.pem",
        )  # fmt: skip
    (tmp_path / "k.pem").write_text("not a key")
    with pytest.raises(ConfigError, match=r"--tls-cert .*c\.pem / --tls-key .*not a usable PEM"):
        ApiServer(
            create_app(make_state()), port=0, tls_cert=tmp_path / "c.pem",
            tls_key=tmp_path / "k.pem",
        )  # fmt: skip


def test_a_non_loopback_host_needs_a_token_or_insecure() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.7")
    with pytest.raises(ConfigError, match=r"--host 0\.0\.0\.0: refusing .*HORIZONS_API_TOKEN"):
        require_safe_exposure("0.0.0.0", None, insecure=False)
    require_safe_exposure("0.0.0.0", TOKEN, insecure=False)
    require_safe_exposure("0.0.0.0", None, insecure=True)
    with pytest.raises(ConfigError, match="refusing"):
        ApiServer(create_app(make_state()), host="0.0.0.0", port=0)
    with serving(ApiGuard(token=TOKEN), host="0.0.0.0") as server:
        assert server.url.startswith("http://0.0.0.0:")


def test_guard_repr_hides_the_token() -> None:
    assert TOKEN not in repr(ApiGuard(token=TOKEN))
    with pytest.raises(ConfigError, match="--max-streams 0"):
        ApiGuard(max_streams=0)


def test_serve_refuses_a_public_host_without_a_token_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k != "HORIZONS_API_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "cosmic_horizons.cli.main", "serve", "--host", "0.0.0.0",
         "--bootstrap", "127.0.0.1:1", "--port", "0"],
        capture_output=True, text=True, env={**env, "COLUMNS": "300"}, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "--host 0.0.0.0: refusing" in line and "HORIZONS_API_TOKEN" in line
    assert "--insecure" in line
