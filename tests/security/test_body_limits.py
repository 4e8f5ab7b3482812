"""A size limit on every request body: 1 MB for forms, the API and webhooks (CSV imports: 5 MB), 413 with a
sentence (JSON where the caller speaks JSON), never a 500 and nothing stored. Walked over the URL map; then
the real server process (app.py, waitress) with a body past its own wall and a chunked body with no length."""
from __future__ import annotations

import io
import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_URL, TEST_CONFIG, api_token, csrf_from, login
from tests.security.conftest import fill, make_world
from tests.views.conftest import row_counts
from tracker.extensions import db
from tracker.models import ImportRun, WebhookDelivery
from tracker.security import SERVER_BODY_LIMIT

ROOT = Path(__file__).resolve().parent.parent.parent
MB = 1024 * 1024
TOO_LARGE = "too large"
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
# A CSV file of up to 5 MB (tested below); a proof of [proofs] max_upload_mb (tests/proofs/test_proof_views.py).
OWN_LIMIT = {"imports.upload", "orders.post_proof", "api.post_proof"}


def _json_url(url: str) -> bool:
    return url.startswith(("/api/", "/webhooks/")) or url.endswith(".json")


def _stored(app) -> dict:
    with app.app_context():
        return {**row_counts(app), "deliveries": db.session.query(WebhookDelivery).count(),
                "imports": db.session.query(ImportRun).count()}


def test_every_state_changing_route_refuses_a_body_over_1_mb(sec_app):
    client = login(sec_app.test_client(), "admin")
    token = api_token(sec_app, "admin")
    world = make_world(sec_app)
    before = _stored(sec_app)
    checked = []
    for rule in sorted(sec_app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in OWN_LIMIT:
            continue
        for method in sorted(rule.methods & STATE_CHANGING):
            url = fill(rule, world)
            headers = {"Authorization": f"Bearer {token}"} if url.startswith("/api/") else {}
            bodies = {
                "form": dict(data={"csrf_token": client.csrf_token, "note": "x" * (MB + 10)}),
                "json": dict(data=b'{"note": "' + b"x" * (MB + 10) + b'"}', content_type="application/json"),
                "upload": dict(data={"csrf_token": client.csrf_token,
                                     "file": (io.BytesIO(b"x" * (MB + 10)), "big.csv")},
                               content_type="multipart/form-data"),
            }
            for kind, kwargs in bodies.items():
                resp = client.open(url, method=method, headers=headers, **kwargs)
                where = f"{method} {url} ({rule.endpoint}) with a {kind} body"
                assert resp.status_code == 413, f"{where} answered {resp.status_code}"
                if _json_url(url):
                    assert resp.is_json and TOO_LARGE in resp.get_json()["error"], where
                else:
                    assert TOO_LARGE in resp.get_data(as_text=True), where
            checked.append(rule.endpoint)
    assert _stored(sec_app) == before
    assert {"orders.new", "api.create_order", "api.create_scan", "webhooks.receive", "orders.attach_carrier_label",
            "marketplaces.amazon_import", "auth.login", "scan.submit"} <= set(checked)


def test_a_csv_import_has_its_own_5_mb_limit(sec_app):
    client = login(sec_app.test_client(), "manager")
    token = csrf_from(client.get("/imports").get_data(as_text=True))
    header = b"customer,item,method,quantity\n"
    row = b"Rosa Diaz," + b"Team tee with a long description " * 4 + b",dtg,12\n"  # long rows: fewer than 20,000
    big = header + row * ((2 * MB) // len(row))  # 2 MB: over the app-wide 1 MB, under the import's 5 MB
    resp = client.post("/imports", data={"csrf_token": token, "file": (io.BytesIO(big), "big.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 302 and "/imports/" in resp.headers["Location"]
    huge = header + row * ((6 * MB) // len(row))
    resp = client.post("/imports", data={"csrf_token": token, "file": (io.BytesIO(huge), "huge.csv")},
                       content_type="multipart/form-data", follow_redirects=True)
    assert resp.status_code == 200 and "The file is too large: at most 5 MB" in resp.get_data(as_text=True)
    with sec_app.app_context():
        assert db.session.query(ImportRun).filter_by(filename="huge.csv").count() == 0


# -- the real server ------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def real_server(tmp_path):
    """`python app.py` in its own process (waitress, with the limits it is started with in production)."""
    port = _free_port()
    env = {**os.environ, "TRACKER_INSTANCE_PATH": str(tmp_path / "instance"), "TRACKER_CONFIG": str(TEST_CONFIG),
           "PYTHONUNBUFFERED": "1"}
    if PG_URL:
        env["TRACKER_DATABASE_URL"] = PG_URL
    else:
        env.pop("TRACKER_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for _ in range(400):
        line = proc.stdout.readline()
        lines.append(line)
        if not line or "is serving at" in line:
            break
    assert "is serving at" in lines[-1], "".join(lines)
    yield port
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _post(port, path, headers, *, chunks=0, length=None, body=b""):
    """A POST over a raw socket that stops sending as soon as the server answers (a server that refuses
    a body closes the connection; http.client would die on the reset before reading the answer).
    chunks: that many 64 KB chunks, chunked; length: announce this Content-Length and send `body`."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunks else f"Content-Length: {length if length is not None else len(body)}")
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    pieces = ([b"10000\r\n" + b"x" * 65536 + b"\r\n"] * chunks + [b"0\r\n\r\n"]) if chunks else [body]
    try:
        for piece in pieces:
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered: stop sending
            sock.sendall(piece)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    sock.close()
    head, _, payload = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    got = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), got.get("content-type", ""), payload


@pytest.mark.skipif(bool(PG_URL), reason="the server process uses its own SQLite database")
def test_the_real_server_refuses_oversized_and_endless_bodies(real_server):
    port = real_server
    # A chunked body has no Content-Length: the app stops reading at 1 MB and answers 413 JSON.
    status, ctype, body = _post(port, "/webhooks/easypost", {"Content-Type": "application/json"}, chunks=40)
    assert status == 413 and "application/json" in ctype and b"too large" in body
    status, ctype, body = _post(port, "/api/orders", {"Content-Type": "application/json",
                                                      "Authorization": "Bearer itk_x"}, chunks=40)
    assert status in (401, 413) and "application/json" in ctype  # the token check may answer first; not a 500
    # Past the server's own wall: refused by waitress on the announced length, before the app (or the disk)
    # sees a byte of it.
    status, _, body = _post(port, "/webhooks/easypost", {"Content-Type": "application/json"},
                            length=SERVER_BODY_LIMIT + 1)
    assert status == 413
    # Between the two (waitress takes it in whole, the app refuses it unread).
    status, ctype, body = _post(port, "/webhooks/easypost", {"Content-Type": "application/json"}, body=b"x" * (MB + 1))
    assert status == 413 and b"too large" in body
    # A normal request still works afterwards.
    status, _, _ = _post(port, "/webhooks/easypost", {"Content-Type": "application/json"}, body=b"{}")
    assert status in (401, 404)  # no signature / provider not set up: refused, not broken
