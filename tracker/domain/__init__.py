"""Pure rules of the shop: no Flask, no database. Each module is tested on its own."""
