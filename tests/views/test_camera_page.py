"""The scan page's camera: the button, the decoder served from the app itself (pinned, never a CDN), and
the one relaxation of the Content-Security-Policy it needs (WebAssembly, on the scan page only)."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tests.conftest import login

VENDOR = Path(__file__).resolve().parents[2] / "static" / "vendor" / "zxing-wasm-3.1.8"


def test_every_scan_page_has_the_camera_and_its_decoder_comes_from_the_app(app):
    client = login(app.test_client(), "operator")
    for station in app.extensions["tracker_settings"].stations:
        resp = client.get(f"/scan/{station}")
        page = resp.get_data(as_text=True)
        assert 'id="camera-toggle"' in page and "js/camera.js" in page, station
        assert 'data-zxing-base="/static/vendor/zxing-wasm-3.1.8/"' in page
        assert "script-src 'self' 'wasm-unsafe-eval';" in resp.headers["Content-Security-Policy"]
    # only the scan page may compile WebAssembly
    assert "wasm-unsafe-eval" not in client.get("/").headers["Content-Security-Policy"]
    assert "wasm-unsafe-eval" not in client.get("/scan").headers["Content-Security-Policy"]
    wasm = client.get("/static/vendor/zxing-wasm-3.1.8/zxing_reader.wasm")
    assert wasm.status_code == 200 and wasm.mimetype == "application/wasm" and wasm.data[:4] == b"\0asm"
    wasm.close()
    script = client.get("/static/vendor/zxing-wasm-3.1.8/zxing-reader.iife.js")
    assert script.status_code == 200 and "javascript" in script.mimetype
    script.close()


def test_the_vendored_decoder_is_the_pinned_release_and_is_never_fetched_from_a_cdn():
    recorded = dict(re.findall(r"(\S+)\s+<-.*\n\s+sha256 ([0-9a-f]{64})", (VENDOR / "SOURCE.txt").read_text()))
    assert set(recorded) == {"zxing-reader.iife.js", "zxing_reader.wasm"}
    for name, digest in recorded.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    camera = (VENDOR.parents[1] / "js" / "camera.js").read_text()
    # zxing-wasm's default is jsDelivr; camera.js must point it at our copy
    assert "jsdelivr" in (VENDOR / "zxing-reader.iife.js").read_text()
    assert "locateFile" in camera and "base + path" in camera
