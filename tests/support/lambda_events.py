"""Lambda events as AWS sends them, for tests."""

from __future__ import annotations

from typing import Any


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"msg-{i}",
                "receiptHandle": f"rh-{i}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:scoring",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }
