"""Request limits shared by the app's middleware and the upload form."""

import re

MAX_FILES = 10
FORM_OVERHEAD = 256 * 1024
MAX_JSON_BYTES = 64 * 1024
"""Every body that is not a multipart upload to an upload route is refused over this size, before it is parsed."""

UPLOAD_ROUTES = re.compile(r"^(?:/api/v1/evidence|/api/v1/coordinator/backfill|/r/[^/]+)$")
"""The only routes that take files (multipart) and so the large limit: evidence, the report form, backfill."""

DRAIN_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 2.0
"""A refused body declared at most this large is read and dropped (for at most DRAIN_SECONDS) before the 413 goes out:
closing a connection with unread bytes resets it, and a reset can destroy the answer before the client reads it."""
