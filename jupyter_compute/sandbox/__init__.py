"""Faithful local stand-ins of the platform APIs, for tests, demos and Binder."""
