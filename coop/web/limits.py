"""Request limits shared by the app's middleware and the upload form."""

MAX_FILES = 10
FORM_OVERHEAD = 256 * 1024
