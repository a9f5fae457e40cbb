"""Synced sources: collections kept in step with web pages, sitemaps, GOV.UK and folders (docs/sources.md)."""
