"""The live web server fixture for these tests (defined in tests/conftest_web.py)."""

from conftest_web import live  # noqa: F401
