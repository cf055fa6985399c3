"""Foundations every layer uses: settings, i18n, tokens, validation problems, the template renderer."""
