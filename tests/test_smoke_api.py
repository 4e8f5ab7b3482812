

def test_create_and_read_order(app, client, api):
    resp = api.post("/api/orders", json={"customer": {"name": "Rosa Diaz", "email": "rosa@example.com"},
                                         "items": [{"description": "Team tee", "method": "dtg", "quantity": 12},
                                                   {"description": "Cap", "method": "embroidery", "quantity": 12}],
                                         "due_date": "2099-01-01"})
    assert resp.status_code == 400  # too far ahead
    resp = api.post("/api/orders", json={"customer": {"name": "Rosa Diaz"},
                                         "items": [{"description": "Team tee", "method": "dtg", "quantity": 12},
                                                   {"description": "Cap", "method": "embroidery", "quantity": 12}]})
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["order_id"] == "A1001"
    assert [j["job_id"] for j in body["jobs"]] == ["A1001A", "A1001B"]
    assert body["tracking_url"].startswith("http://shop.test/t/")
    got = api.get("/api/orders/a1001").json
    assert got["events"][0]["to"] == "received"
