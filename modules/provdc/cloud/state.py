"""The Pulumi state bucket on any S3-compatible endpoint (AWS, an in-country cloud, MinIO).

Idempotent: each setting is read first and written only if it differs, and the result says
what changed, so a second run reports nothing to do. It never weakens what exists: on a
bucket someone already configured it adds what is missing and keeps what is stricter (KMS
encryption stays KMS, an existing bucket policy keeps every statement and gets the TLS-only
one merged in). `dry_run` reports the same changes and writes nothing.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from provdc.errors import ProvdcError

# fullmatch everywhere: a trailing newline is not part of a name
BUCKET_NAME = re.compile(r"(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# AWS (ap-southeast-1) and in-country clouds (hcm-1): lower-case words joined by dashes
REGION = re.compile(r"[a-z0-9]+(-[a-z0-9]+){0,4}")


@dataclass
class BootstrapResult:
    bucket: str
    login_url: str
    changed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    def change(self, what: str) -> bool:
        """Record a change; True when it is to be written (not a dry run)."""
        self.changed.append(what)
        return not self.dry_run


def check_endpoint(endpoint: str | None) -> None:
    if endpoint is None:
        return
    url = urlparse(endpoint)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ProvdcError(f"'{endpoint}' is not an http(s) URL", None, None, "--endpoint",
                          "give the S3 endpoint as https://host[:port] (http only on loopback)")
    if url.scheme == "http" and not is_loopback(endpoint):
        raise ProvdcError(f"'{endpoint}' sends state and credentials in clear text", None, None,
                          "--endpoint", "use https:// (plain http is accepted on loopback only)")


def is_loopback(endpoint: str) -> bool:
    """The URL's host is a loopback address (parsed: `127.attacker.example` is a name)."""
    host = urlparse(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_region(region: str) -> None:
    if not REGION.fullmatch(region or "") or len(region) > 40:
        raise ProvdcError(f"{region!r} is not a region name", None, None, "--region",
                          "give the region as the cloud names it, e.g. ap-southeast-1 or hcm-1")


def check_bucket_name(name: str) -> None:
    if not BUCKET_NAME.fullmatch(name):
        raise ProvdcError(f"'{name}' is not a valid bucket name", None, None, "--bucket",
                          "use 3-63 lower-case letters, digits, dots and hyphens")


def client(service: str, endpoint: str | None, region: str):
    return boto3.client(service, endpoint_url=endpoint, region_name=region,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))


@contextmanager
def aws_errors(what: str, refused_field: str, refused_fix: str) -> Iterator[None]:
    """Turn botocore's errors into one-paragraph user errors (no traceback, exit 2)."""
    try:
        yield
    except EndpointConnectionError as exc:
        raise ProvdcError(f"cannot reach the {what}: {exc}", None, None, "--endpoint",
                          "check the URL and that the service is up") from None
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise ProvdcError(f"the {what} refused: {err.get('Code')}: {err.get('Message')}",
                          None, None, refused_field, refused_fix) from None
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise ProvdcError(f"no usable credentials for the {what} ({exc})", None, None,
                          "AWS_ACCESS_KEY_ID / AWS_PROFILE",
                          "export the credentials (or a profile) of an account allowed to "
                          "do this") from None
    except BotoCoreError as exc:  # anything else botocore says about the call
        raise ProvdcError(f"the {what} call failed: {exc}", None, None, "--endpoint/--region",
                          "check the endpoint, the region and the credentials") from None


def login_url(bucket: str, endpoint: str | None, region: str, prefix: str = "") -> str:
    """The `pulumi login` URL for a self-managed S3 backend (path-style for non-AWS)."""
    path = f"s3://{bucket}" + (f"/{prefix.strip('/')}" if prefix else "")
    if endpoint is None:
        return f"{path}?{urlencode({'region': region})}"
    url = urlparse(endpoint)
    params = {"region": region, "endpoint": url.netloc, "s3ForcePathStyle": "true"}
    if url.scheme == "http":
        params["disableSSL"] = "true"
    return f"{path}?{urlencode(params)}"


def bootstrap(bucket: str, endpoint: str | None, region: str,
              kms_key: str | None = None, dry_run: bool = False) -> BootstrapResult:
    """Create the state bucket if needed: versioned, encrypted, public access blocked, TLS only."""
    check_endpoint(endpoint)
    check_bucket_name(bucket)
    check_region(region)
    s3 = client("s3", endpoint, region)
    result = BootstrapResult(bucket, login_url(bucket, endpoint, region), dry_run=dry_run)
    with aws_errors("S3 endpoint", "--bucket",
                    "check credentials (AWS_ACCESS_KEY_ID/...) and that the name is free"):
        if not _ensure_bucket(s3, bucket, region, result) and dry_run:
            return result  # nothing to read yet: everything below would be set on creation
        _ensure_versioning(s3, bucket, result)
        _ensure_encryption(s3, bucket, kms_key, result)
        _ensure_public_access_block(s3, bucket, result)
        if endpoint is None or urlparse(endpoint).scheme == "https":
            _ensure_tls_policy(s3, bucket, result)
        else:  # a TLS-only policy on a plain-http endpoint would lock the operator out
            result.notes.append("plain-http loopback endpoint: TLS-only policy not set")
    return result


def _ensure_bucket(s3, bucket: str, region: str, result: BootstrapResult) -> bool:
    """True when the bucket exists (now)."""
    try:
        s3.head_bucket(Bucket=bucket)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    args = {"Bucket": bucket}
    if region != "us-east-1":
        args["CreateBucketConfiguration"] = {"LocationConstraint": region}
    if result.change("created the bucket"):
        s3.create_bucket(**args)
        return True
    return False


def _ensure_versioning(s3, bucket: str, result: BootstrapResult) -> None:
    if s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled" and \
            result.change("enabled versioning"):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def _ensure_encryption(s3, bucket: str, kms_key: str | None, result: BootstrapResult) -> None:
    """SSE-S3 (AES256) unless a KMS key is asked for; a bucket already on KMS stays on KMS
    (with its own key, unless --kms-key names another one)."""
    try:
        config = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        have = config["Rules"][0].get("ApplyServerSideEncryptionByDefault", {})
    except ClientError:
        have = {}
    if have.get("SSEAlgorithm") in ("aws:kms", "aws:kms:dsse") and not kms_key:
        result.notes.append(f"kept the bucket's {have['SSEAlgorithm']} encryption "
                            f"(stricter than SSE-S3)")
        return
    want = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key} if kms_key else {
        "SSEAlgorithm": "AES256"}
    if {k: have.get(k) for k in want} != want and \
            result.change(f"set default encryption {want['SSEAlgorithm']}"):
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": want, "BucketKeyEnabled": True}]})


PUBLIC_BLOCK = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True}


def _ensure_public_access_block(s3, bucket: str, result: BootstrapResult) -> None:
    try:
        have = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError:
        have = {}
    if have != PUBLIC_BLOCK and result.change("blocked public access"):
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=PUBLIC_BLOCK)


TLS_SID = "DenyInsecureTransport"


def tls_only_statement(bucket: str) -> dict:
    arn = f"arn:aws:s3:::{bucket}"
    return {"Sid": TLS_SID, "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def tls_only_policy(bucket: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [tls_only_statement(bucket)]}


def merged_policy(have: dict | None, bucket: str) -> dict:
    """`have` with the TLS-only statement in it: every other statement kept as it is."""
    if not have:
        return tls_only_policy(bucket)
    statements = have.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    kept = [st for st in statements if st.get("Sid") != TLS_SID]
    return {**have, "Version": have.get("Version", "2012-10-17"),
            "Statement": [*kept, tls_only_statement(bucket)]}


def _ensure_tls_policy(s3, bucket: str, result: BootstrapResult) -> None:
    try:
        have = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError:
        have = None
    want = merged_policy(have, bucket)
    if have != want and result.change("merged the TLS-only statement into the bucket policy"
                                      if have else "set the TLS-only bucket policy"):
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(want))
