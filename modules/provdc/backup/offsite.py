#!/usr/bin/python3
"""provdc-offsite: the off-site copy of the BACKUP zone's repositories, to the write-once
bucket (the cloud stack's backup bucket, S3 object lock in COMPLIANCE mode).

Runs on the repository host (`provdc-offsite.timer`; the backup role installs this file as
/usr/local/sbin/provdc-offsite). Each client's restic repository is copied as stored, file by
file, under its own prefix `<host>/`: restic encrypted it on the client, so this host needs
no repository password, and the copy is itself a restic repository (restic's S3 layout is
its local one) that restores with `restic -r s3:<endpoint>/<bucket>/<host> --no-lock ...`
and the host's password. Only files the bucket lacks are sent: restic names its files by the
hash of their content and never rewrites one. Lock files are not copied. Nothing is ever
deleted off-site: what a client prunes stays there until its object lock ends.

The result goes to the journal like a backup run (`offsite ok ...`, or `offsite FAILED ...`
at priority err: a failed copy is a security event the SOC receives) and, on success, to
/var/lib/provdc-backup/offsite-last-success, which the audit reads (VN-BAK-05).

Python's standard library only (Debian 12's python3): S3 over HTTP(S) with AWS Signature
Version 4, path-style addressing.

    provdc-offsite [CONFIG]     (default /etc/provdc/backup/offsite.json; its
                                 "credentials" names a root-only JSON file with
                                 access_key_id and secret_access_key)
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

CONFIG = "/etc/provdc/backup/offsite.json"
STATE = Path("/var/lib/provdc-backup/offsite-last-success")
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
SKIP = ("locks",)  # restic's lock files: transient, rewritten on every run
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


# --- AWS Signature Version 4 ---------------------------------------------------------------


def _quote(text: str, safe: str = "-_.~") -> str:
    return urllib.parse.quote(text, safe=safe)


def authorization(method: str, host: str, path: str, query: dict[str, str],
                  headers: dict[str, str], payload_sha256: str, access_key_id: str,
                  secret_access_key: str, region: str, amz_date: str) -> str:
    """The Authorization header of a request to S3 (every header in `headers` is signed;
    `host`, `x-amz-date` and `x-amz-content-sha256` must be among them)."""
    day = amz_date[:8]
    signed = {k.lower(): " ".join(v.strip().split()) for k, v in headers.items()}
    signed_names = ";".join(sorted(signed))
    canonical = "\n".join([
        method,
        _quote(path, safe="-_.~/"),
        "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(query.items())),
        "".join(f"{k}:{signed[k]}\n" for k in sorted(signed)),
        signed_names,
        payload_sha256,
    ])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret_access_key).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (f"AWS4-HMAC-SHA256 Credential={access_key_id}/{scope}, "
            f"SignedHeaders={signed_names}, Signature={signature}")


class S3:
    """The two calls the copy needs: list a prefix, put an object."""

    def __init__(self, endpoint: str, region: str, bucket: str, access_key_id: str,
                 secret_access_key: str):
        url = urllib.parse.urlsplit(endpoint)
        self.scheme, self.host, self.base = url.scheme, url.netloc, url.path.rstrip("/")
        self.region, self.bucket = region, bucket
        self.key_id, self.secret = access_key_id, secret_access_key

    def _request(self, method: str, key: str, query: dict[str, str] | None = None,
                 body: bytes = b"", extra: dict[str, str] | None = None) -> bytes:
        query = query or {}
        path = f"{self.base}/{self.bucket}" + (f"/{key}" if key else "")
        amz_date = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        headers = {"host": self.host, "x-amz-date": amz_date, "x-amz-content-sha256": payload,
                   **(extra or {})}
        headers["Authorization"] = authorization(method, self.host, path, query, headers,
                                                 payload, self.key_id, self.secret,
                                                 self.region, amz_date)
        url = f"{self.scheme}://{self.host}{_quote(path, safe='-_.~/')}"
        if query:
            url += "?" + "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(query.items()))
        request = urllib.request.Request(url, data=body if method == "PUT" else None,
                                         method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.read()

    def keys(self, prefix: str) -> dict[str, int]:
        """{key: size} of every object under `prefix` (ListObjectsV2, page by page)."""
        found, token = {}, None
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if token:
                query["continuation-token"] = token
            page = ET.fromstring(self._request("GET", "", query))
            for item in page.iter(f"{S3_NS}Contents"):
                found[item.findtext(f"{S3_NS}Key")] = int(item.findtext(f"{S3_NS}Size"))
            if page.findtext(f"{S3_NS}IsTruncated") != "true":
                return found
            token = page.findtext(f"{S3_NS}NextContinuationToken")

    def put(self, key: str, body: bytes) -> None:
        # Content-MD5: S3 refuses a PUT into a bucket with object lock without it
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324
        self._request("PUT", key, body=body, extra={"content-md5": md5,
                                                    "content-type": "application/octet-stream"})


# --- the copy ------------------------------------------------------------------------------


def problems(conf: dict) -> list[str]:
    """What is wrong with a configuration (both engines check it before writing it)."""
    found = []
    url = urllib.parse.urlsplit(str(conf.get("endpoint", "")))
    if url.scheme not in ("http", "https") or not url.netloc or url.path.strip("/") \
            or url.query:
        found.append(f"endpoint {conf.get('endpoint')!r} is not an http(s) URL without a path")
    if not BUCKET.fullmatch(str(conf.get("bucket", ""))):
        found.append(f"bucket {conf.get('bucket')!r} is not an S3 bucket name")
    if not REGION.fullmatch(str(conf.get("region", ""))):
        found.append(f"region {conf.get('region')!r} is not a region name")
    for host, repo in dict(conf.get("repositories") or {}).items():
        if not HOST.fullmatch(host) or not os.path.isabs(repo):
            found.append(f"repository {host!r}: {repo!r} is not a host and an absolute path")
    return found


def load(path: str) -> tuple[dict, dict]:
    """The configuration and its credentials, checked (the role writes both)."""
    conf = json.loads(Path(path).read_text(encoding="utf-8"))
    wrong = problems(conf)
    if wrong:
        raise ValueError("; ".join(wrong))
    creds = json.loads(Path(conf["credentials"]).read_text(encoding="utf-8"))
    return conf, creds


def local_files(repo: Path) -> dict[str, Path]:
    """{relative name: path} of a repository's files, lock files left out."""
    out = {}
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo).as_posix()
        if path.is_file() and rel.split("/", 1)[0] not in SKIP:
            out[rel] = path
    return out


def copy(s3: S3, host: str, repo: Path) -> tuple[int, int]:
    """Send the files of one repository the bucket lacks; (files, bytes) sent."""
    there = s3.keys(f"{host}/")
    sent = size = 0
    for rel, path in local_files(repo).items():
        key = f"{host}/{rel}"
        if key in there and there[key] == path.stat().st_size:
            continue
        body = path.read_bytes()
        s3.put(key, body)
        sent, size = sent + 1, size + len(body)
    return sent, size


def report(priority: str, message: str) -> None:
    subprocess.run(["logger", "-t", "provdc-offsite", "-p", f"daemon.{priority}", "--",
                    message], check=False)


def main(argv: list[str]) -> int:
    started = time.time()
    step = "config"
    try:
        conf, creds = load(argv[1] if len(argv) > 1 else CONFIG)
        s3 = S3(conf["endpoint"], conf["region"], conf["bucket"], creds["access_key_id"],
                creds["secret_access_key"])
        files = size = 0
        for host, repo in sorted(conf["repositories"].items()):
            step = f"copy:{host}"
            sent, sent_bytes = copy(s3, host, Path(repo))
            files, size = files + sent, size + sent_bytes
    except (OSError, ValueError, KeyError, ET.ParseError, urllib.error.URLError) as exc:
        detail = exc.read().decode(errors="replace")[:300] if isinstance(
            exc, urllib.error.HTTPError) else str(exc)[:300]
        report("err", f"offsite FAILED step={step} error={detail!r}")
        return 1
    STATE.parent.mkdir(parents=True, exist_ok=True)
    STATE.write_text(f"{int(time.time())} {files} {size}\n", encoding="utf-8")
    report("info", f"offsite ok bucket={conf['bucket']} repositories="
                   f"{len(conf['repositories'])} files={files} bytes={size} "
                   f"seconds={int(time.time() - started)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
