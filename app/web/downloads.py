"""Sending a stored file to the browser, with the headers every download needs.

The view decides who may have the file; this only sends it. Files are sent with their
checked content type (never sniffed: `nosniff` is set for every response), a download name
that may be Japanese (`send_file` writes RFC 6266's `filename*`), and a policy that stops
a PDF or image opened in the browser from running anything. Members-only and personal
files are never kept by shared caches.
"""

from __future__ import annotations

import io

from flask import Response, abort, send_file

from app.storage import StoredFileMissing, get_storage

# A file shown in the browser (an image, a PDF) is a document of its own: no scripts, no
# forms, no plugins, whatever it contains.
_FILE_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def send_stored_file(key: str, *, content_type: str, download_name: str,
                     inline: bool = False, public: bool = False) -> Response:
    """The file under `key`; 404 if storage no longer has it.

    `inline` shows it in the browser (images, PDFs) instead of saving it; `public` lets
    shared caches keep it (logos and news images), otherwise it is private to the person.
    """
    try:
        data = get_storage().load(key)
    except StoredFileMissing:
        abort(404)
    response = send_file(io.BytesIO(data), mimetype=content_type, as_attachment=not inline,
                         download_name=download_name, max_age=3600 if public else 0)
    response.headers["Content-Security-Policy"] = _FILE_POLICY
    response.headers["Cache-Control"] = "public, max-age=3600" if public else "private, no-store"
    return response
