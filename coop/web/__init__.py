"""The web service: department report form (HTML), department / auditor / coordinator JSON API."""

from coop.web.app import create_app

__all__ = ["create_app"]
