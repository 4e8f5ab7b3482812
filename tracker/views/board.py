from __future__ import annotations

from flask import Blueprint, render_template

from ..auth import role_required
from ..queries import board_columns

bp = Blueprint("board", __name__)


@bp.get("/")
@role_required("operator")
def index():
    return render_template("board/index.html", columns=board_columns())
