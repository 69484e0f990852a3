"""The real collaborators of the job processor (plexus/worker/ports.py), built from settings.

Each imports its client module on first use, so the empty poll imports none of them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from plexus.clients.plexus_api import parse_json
from plexus.core.errors import JobError
from plexus.core.settings import Settings, require

if TYPE_CHECKING:
    from plexus.clients.attachments import AttachmentStore


class S3ResultFiles:
    """trace.json and log.txt in the attachments bucket, over one connection pool that
    `close()` ends (the processor that made it closes it)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: AttachmentStore | None = None

    def prepare(self) -> None:
        if self.settings.bucket is not None:  # else the upload names the missing setting
            self._attachments().prepare()

    def sign_ahead(self, result_id: str, attempt: int) -> None:
        if self.settings.bucket is not None:  # else the upload names the missing setting
            self._attachments().sign_ahead(result_id, attempt)

    async def upload(
        self, result_id: str, trace: dict[str, Any], log_text: str, attempt: int
    ) -> list[str]:
        return await self._attachments().upload(result_id, trace, log_text, attempt=attempt)

    def _attachments(self) -> AttachmentStore:
        if self._store is None:
            from plexus.clients.attachments import AttachmentStore

            bucket = require(
                self.settings.bucket,
                "AMPLIFY_STORAGE_SCORERESULTATTACHMENTS_BUCKET_NAME",
                "score results' trace and log go to this bucket",
            )
            self._store = AttachmentStore(self.settings.region, bucket)
        return self._store

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()


class SqsResponses:
    def __init__(self, region: str | None, queue_url: str) -> None:
        self.region, self.queue_url = region, queue_url

    async def send(self, result_id: str) -> None:
        from plexus.clients.queues import send_response

        await send_response(self.region, self.queue_url, result_id)


class UrlContent:
    """metadata.contentUrl over HTTPS (pycurl, off the event loop), with the limits set."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def fetch(self, item: dict[str, Any]) -> str:
        url = parse_json(item.get("metadata")).get("contentUrl")
        if not url:
            raise JobError(f"item {item['id']} has no text and no metadata.contentUrl")
        from plexus.clients.content import fetch_text

        return await asyncio.to_thread(
            fetch_text,
            str(url),
            max_bytes=self.settings.content_max_bytes,
            timeout_seconds=self.settings.content_timeout_seconds,
            allowed_hosts=self.settings.content_allowed_hosts,
        )
