"""The 5xx answers the fuzz tests found, each pinned as a plain example so it stays fixed."""
from __future__ import annotations

import json

import pytest

from tests.conftest import api_token, login

from .conftest import assert_clear_refusal, state

DEEP = b"[" * 100_000 + b"]" * 100_000  # 200 kB, under the 1 MB limit; json.loads raises RecursionError


def bearer(app, role="manager"):
    return {"Authorization": f"Bearer {api_token(app, role)}"}


@pytest.mark.parametrize("url", ["/api/alerts/9223372036854775808/acknowledge", "/api/alerts/2147483648/snooze",
                                 "/api/alerts/99999999999999999999999/snooze"])
def test_an_alert_id_too_big_for_the_database_is_a_404_not_a_500(app, client, url):
    """SQLite's driver raised OverflowError for an id past 2**63 (PostgreSQL's INTEGER ends at 2**31)."""
    resp = client.post(url, json={"for": "1h"}, headers=bearer(app))
    assert_clear_refusal(resp, allowed={404})
    assert resp.get_json()["error"] == "There is no such alert."


def test_board_alert_and_import_pages_with_an_id_too_big_are_404s(app, client):
    login(client, "manager")
    resp = client.post("/alerts/9223372036854775808/acknowledge", data={"csrf_token": client.csrf_token},
                       follow_redirects=True)  # the board's alert actions flash and redirect
    assert resp.status_code == 200 and "There is no such alert." in resp.get_data(as_text=True)
    for resp in (client.get("/imports/9223372036854775808"), client.get("/imports/9223372036854775808/result"),
                 client.post("/marketplaces/amazon/import/9223372036854775808", data={"csrf_token": client.csrf_token})):
        assert resp.status_code == 404, resp.status_code


@pytest.mark.parametrize("choice", [[], {}, ["1h"], {"1h": 1}])
def test_snoozing_for_a_list_or_an_object_is_a_400(app, client, choice):
    """`choice not in SNOOZE_CHOICES` (a dict) raised TypeError: unhashable type."""
    resp = client.post("/api/alerts/1/snooze", json={"for": choice}, headers=bearer(app))
    assert_clear_refusal(resp, allowed={400})
    assert resp.get_json()["field"] == "for"


@pytest.mark.parametrize("url", ["/api/orders", "/api/scans", "/api/orders/A1001/advance", "/api/alerts/1/snooze"])
def test_json_nested_too_deep_is_a_400_not_a_500(app, client, url):
    """json.loads raises RecursionError (not ValueError) for a body nested deeper than Python's stack."""
    before = state(app)
    resp = client.post(url, data=DEEP, headers={**bearer(app), "Content-Type": "application/json"})
    assert_clear_refusal(resp, allowed={400, 404})
    assert state(app) == before


@pytest.mark.parametrize("path", ["/scan/press-1", "/scan/press-1/undo"])
def test_the_scan_page_answers_json_nested_too_deep_with_a_400(app, client, path):
    login(client, "operator")
    resp = client.post(path, data=DEEP, headers={"Content-Type": "application/json", "X-CSRFToken": client.csrf_token})
    assert_clear_refusal(resp, allowed={400})
    assert resp.get_json()["ok"] is False


# -- found on PostgreSQL, which refuses a NUL in text even inside a comparison ------------------------------

@pytest.mark.parametrize("url", ["/orders/%00", "/jobs/A1001%00", "/orders/A1001%00/shipments"])
def test_a_code_with_a_nul_in_a_page_url_is_a_404(app, client, url):
    login(client, "manager")
    resp = client.get(url) if "shipments" not in url else client.post(url, data={"csrf_token": client.csrf_token})
    assert resp.status_code == 404


@pytest.mark.parametrize("url", ["/api/orders/%00", "/api/orders/A1001%00/advance"])
def test_a_code_with_a_nul_in_an_api_url_is_a_404(app, client, url):
    resp = client.get(url, headers=bearer(app)) if "advance" not in url else client.post(url, json={}, headers=bearer(app))
    assert_clear_refusal(resp, allowed={404})


@pytest.mark.parametrize("number", ["1Z999\x00AA101", "1Z999\ud800", "ÉÉÉ123", "1Z/../2", "x" * 65])
def test_a_tracking_number_that_is_not_letters_and_digits_is_refused(app, client, number):
    from tests.factories import make_order
    from tracker.extensions import db

    with app.app_context():
        code = make_order().code
        db.session.remove()
    before = state(app)
    resp = client.post(f"/api/orders/{code}/shipments", json={"carrier": "ups", "tracking_number": number},
                       headers=bearer(app))
    assert_clear_refusal(resp, allowed={409})
    assert resp.get_json()["error"] == "a tracking number is 1 to 64 letters and digits"
    assert state(app) == before


def test_an_uploaded_file_name_with_a_nul_is_kept_without_it(app, client):
    import io

    from sqlalchemy import select

    from tracker.extensions import db
    from tracker.models import ImportRun

    login(client, "manager")
    resp = client.post("/imports", data={"csrf_token": client.csrf_token,
                                         "file": (io.BytesIO(b"Order ID,Customer,Product,Qty\n1,Rosa,Tee,3\n"), "\u00f6\x00rders.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 302 and "/imports/" in resp.headers["Location"]
    with app.app_context():
        assert db.session.scalars(select(ImportRun.filename)).all() == ["\u00f6rders.csv"]
