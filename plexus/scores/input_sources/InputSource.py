"""What input sources share: finding the attachment, reading it from S3."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from plexus.core.errors import ContentError, ScoreConfigError
from plexus.core.settings import SettingsError

if TYPE_CHECKING:
    from plexus.scores.run import ScoringSettings
    from plexus.scores.Score import Score

MAX_ATTACHMENT_BYTES = 50_000_000


class InputSource:
    kind = "InputSource"

    def __init__(self, options: dict[str, Any], where: str) -> None:
        self.options = options
        self.where = f"{where}: item ({self.kind})"
        pattern = options.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise ScoreConfigError(f"{self.where}: options.pattern is required")
        try:
            self.pattern = re.compile(pattern)
        except re.error as exc:
            raise ScoreConfigError(f"{self.where}: invalid pattern {pattern!r}: {exc}") from None

    def find_attachment(self, attached: list[str]) -> str:
        for key in attached:
            if self.pattern.match(key.split("/")[-1]):
                return key
        raise ContentError(
            f"{self.where}: no attachment matching pattern {self.pattern.pattern!r}; "
            f"attachments: {attached}"
        )

    async def read(self, key: str, settings: ScoringSettings) -> bytes:
        if key.startswith("s3://"):
            bucket, _, key = key[5:].partition("/")
        elif key.startswith("items/"):
            if not settings.datasources_bucket:
                raise SettingsError(
                    f"DATASOURCES_BUCKET is not set: attachment {key} is an item attachment"
                )
            bucket = settings.datasources_bucket
        else:
            if not settings.attachments_bucket:
                raise SettingsError(
                    "AMPLIFY_STORAGE_SCORERESULTATTACHMENTS_BUCKET_NAME is not set: "
                    f"attachment {key} lives there"
                )
            bucket = settings.attachments_bucket
        return await asyncio.to_thread(_get_object, settings.region, bucket, key, self.where)

    async def extract(self, item: dict[str, Any], settings: ScoringSettings) -> Score.Input:
        raise NotImplementedError

    def metadata(self, item: dict[str, Any], key: str) -> dict[str, Any]:
        from plexus.scores.item import item_metadata

        metadata = item_metadata(item)
        metadata.update(input_source=self.kind, attachment_key=key)
        return metadata


def _get_object(region: str | None, bucket: str, key: str, where: str) -> bytes:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        body = boto3.client("s3", region_name=region).get_object(Bucket=bucket, Key=key)["Body"]
        data = body.read(MAX_ATTACHMENT_BYTES + 1)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise ContentError(f"{where}: reading s3://{bucket}/{key}: {code}") from None
    except BotoCoreError as exc:
        raise ContentError(f"{where}: reading s3://{bucket}/{key}: {exc}") from None
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise ContentError(
            f"{where}: s3://{bucket}/{key} is larger than {MAX_ATTACHMENT_BYTES} bytes"
        )
    return bytes(data)
