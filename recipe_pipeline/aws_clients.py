"""boto3 clients with the project's retry policy: botocore's standard mode (exponential backoff
with jitter on throttling and 5xx), 8 attempts. Credentials, region and ``AWS_ENDPOINT_URL``
come from the standard AWS environment."""

from __future__ import annotations

from typing import Any

MAX_ATTEMPTS = 8


def aws_client(service: str, region_name: str | None = None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(service, region_name=region_name or None, config=Config(retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS}))
