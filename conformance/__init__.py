"""Lamina's conformance suite: run ``pytest conformance --backend NAME`` (see docs/conformance.md)."""
