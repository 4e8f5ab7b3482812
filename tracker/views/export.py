"""The Export page (managers and admins): all orders and their history as a zip of CSV files or one JSON
document, streamed as it is read; and where the nightly backups are. It only reads, so it never commits."""
from __future__ import annotations

from flask import Blueprint, Response, render_template, stream_with_context

from ..auth import role_required
from ..models import utcnow
from ..services import backup as backups
from ..services import export
from ..settings import current_settings

bp = Blueprint("export", __name__)


@bp.get("/export")
@role_required("manager")
def index():
    directory = backups.backup_directory()
    found = backups.backups_in(directory)
    kind = backups.database_kind()
    return render_template("export/index.html", tables=export.tables(), directory=directory, found=found,
                           latest=found[0] if found else None, cfg=current_settings().backup, kind=kind)


def _download(chunks, mimetype: str, extension: str) -> Response:
    def generate():
        with export.snapshot() as conn:
            yield from chunks(conn)

    filename = f"inktrail-export-{utcnow():%Y%m%d-%H%M%S}Z.{extension}"
    return Response(stream_with_context(generate()), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


@bp.get("/export/orders.zip")
@role_required("manager")
def download_zip():
    return _download(export.zip_chunks, "application/zip", "zip")


@bp.get("/export/orders.json")
@role_required("manager")
def download_json():
    return _download(lambda conn: (c.encode("utf-8") for c in export.json_chunks(conn)),
                     "application/json", "json")
