"""Every page names the app's own icon, served from static/, so a browser never asks for a missing
/favicon.ico (a 404 in the console of every page)."""
from tests.conftest import login


def test_pages_link_an_icon_that_is_served(app, client):
    from tests.factories import make_order

    with app.app_context():
        token = make_order().public_token
    login(client, "manager")
    for path in ("/", "/scan", f"/t/{token}"):
        html = client.get(path).get_data(as_text=True)
        assert 'rel="icon" href="/static/favicon.svg"' in html, path
    resp = client.get("/static/favicon.svg")
    assert resp.status_code == 200 and resp.data.startswith(b"<svg")
