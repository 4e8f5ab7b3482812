"""Etsy's polling round (the etsy-orders job): every page of paid, unshipped receipts, each stored raw and
read into an order in one transaction of its own; each page is fetched after the previous receipts were
committed, so no network call happens inside an open transaction. What each step does is
services/etsy.py's (store_receipt, process_receipt: they only flush)."""
from __future__ import annotations

import logging

from ..extensions import db
from ..integrations.http import ProviderError
from ..integrations.marketplaces import etsy as api
from ..services import etsy

log = logging.getLogger("tracker.etsy")


def poll_receipts() -> dict:
    """One round; returns counts (receipts, new, created, existing, ignored, unreadable, failed, pages)."""
    cfg = etsy.etsy_config()
    if cfg is None:
        return {"skipped": "not set up"}
    summary = {"receipts": 0, "new": 0, "created": 0, "existing": 0, "ignored": 0, "unreadable": 0, "failed": 0,
               "pages": 0}
    etsy.process_leftovers(summary)
    db.session.commit()
    until = etsy.paused_until(cfg)
    if until is not None:
        summary["skipped"] = f"Etsy asked us to wait (rate limit) until {until.isoformat(timespec='seconds')}"
        return summary
    store = etsy.token_store()
    offset = 0
    while summary["pages"] < api.MAX_PAGES:
        try:
            receipts, count = api.fetch_receipts(cfg, store, offset)
        except ProviderError as exc:
            if exc.status == 429:
                if exc.retry_after:
                    etsy.pause(cfg, exc.retry_after)
                summary["rate_limited"] = True
                summary["retry_after"] = exc.retry_after
                log.warning("etsy: rate limited after %s pages; the next round continues", summary["pages"])
                return summary
            raise etsy.EtsyPollError(f"Etsy receipts (offset {offset}): {exc.message}") from None
        summary["pages"] += 1
        for receipt in receipts:
            summary["receipts"] += 1
            _take(receipt, summary)
        offset += len(receipts)
        if not receipts or offset >= count:
            break
    return summary


def _take(receipt, summary: dict) -> None:
    """Stores one receipt raw (once) and reads it into an order, committed together."""
    key, body = etsy.receipt_row(receipt)
    try:
        delivery_id = etsy.store_receipt(key, body)
        if delivery_id is None:
            db.session.commit()
            return
        outcome = etsy.process_receipt(delivery_id)
        db.session.commit()
        summary["new"] += 1
        summary[outcome] += 1
    except Exception:
        # Nothing of it is kept (not even the raw row): Etsy lists it again next round and it is retried.
        db.session.rollback()
        summary["failed"] += 1
        log.exception("etsy: receipt %s could not be stored; the next round tries again", key)
