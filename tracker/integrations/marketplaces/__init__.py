"""Marketplaces: one small module per channel, each knowing only its outside system (verify a webhook,
read an order into an OrderDraft, push tracking back). No database, no Flask: the services in
tracker/services/<channel>.py store, dedupe and apply what these modules read."""
