"""Marketplace pages: Amazon report import and shipping-confirmation export, Etsy status (issue 8)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("marketplaces", __name__)
