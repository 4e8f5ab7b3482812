"""Who reacts to what, in one place: the services' composition root (create_app imports it once).

Lower services announce or queue without knowing who handles it (outbox.py knows no message kind,
orders.py no listener, marketplace_push.py no marketplace, tracking.py no marketplace's webhook); this
module wires them. A new reaction is one line here, and nothing below imports upwards."""
from __future__ import annotations

from . import etsy, events, marketplace_push, notifications, outbox, postage, printing, shopify, tracking

# What an order's life sets off (services/events.py), in this order: the job labels, then the notice.
events.listen("order_received", printing.intake_labels)
events.listen("order_received", notifications.order_received)
events.listen("job_added", printing.intake_labels)

# The outbox's message kinds: each one's send (the I/O, after the commit) and apply (records the outcome).
outbox.register("email", notifications.send_email)
outbox.register("webhook", notifications.send_webhook)
outbox.register("register_tracking", tracking.send_registration, apply=tracking.apply_registration)
outbox.register("postage_label", postage.send_label, apply=postage.apply_label)
outbox.register(etsy.TRACKING_KIND, etsy.send_tracking, apply=etsy.apply_tracking)
outbox.register("shopify_fulfillment", shopify.send_fulfillment, apply=shopify.apply_fulfillment)
outbox.register("shopify_tracking_update", shopify.send_tracking_update, apply=shopify.apply_tracking_update)

# Tracking pushed back to the marketplace an order came from.
marketplace_push.register("etsy", activated=etsy.shipment_activated, number_changed=etsy.tracking_number_replaced)
marketplace_push.register("shopify", activated=shopify.shipment_activated,
                          number_changed=shopify.tracking_number_replaced)

# Marketplace webhooks: verified and processed by their own service, stored with the carriers' deliveries.
tracking.MARKETPLACE_WEBHOOKS["shopify"] = shopify
