"""Printed documents: PDF rendering with WeasyPrint and its safe fetcher."""
