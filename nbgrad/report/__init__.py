"""Report model (versioned JSON) and its renderers: text, HTML, widget."""

from nbgrad.report.base import MIME_TYPE, SCHEMA_VERSION, Report

__all__ = ["MIME_TYPE", "SCHEMA_VERSION", "Report"]
