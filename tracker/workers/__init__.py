"""Background work that owns its transactions: batch loops that commit per item, and threads. Services
keep the per-item functions, which only flush."""
