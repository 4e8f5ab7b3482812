"""Order imports from files: CSV upload with a column-mapping step, preview and dry run (issue 8)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("imports", __name__)
