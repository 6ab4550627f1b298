"""The capture server: ``POST /public/v1/event`` on uvicorn, group commit in its event loop (docs/ingestion-group-commit.md)."""

from __future__ import annotations

from events.capture.app import CaptureApplication

__all__ = ["CaptureApplication"]
