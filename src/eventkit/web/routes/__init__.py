"""The routes, one module per audience: public pages, personal pages, survey, sessions, documents, organisers, API."""
