"""The web app: event pages, the registration form, personal pages, the JSON API and the organisers' pages."""

from eventkit.web.app import create_app

__all__ = ["create_app"]
