"""The off-site copy script on its own: its AWS Signature Version 4 against botocore's signer
(another implementation), and a copy into a real moto server on loopback with S3 object lock
in COMPLIANCE mode: only missing files go, lock files never, a second run sends nothing, the
objects are locked, and a broken endpoint is a journal error naming the step."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from provdc.backup import offsite

KEY_ID, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize(("method", "url", "body", "extra"), [
    ("GET", "http://10.94.5.1:9000/pdc-backup?list-type=2&prefix=qlvb-1%2F", b"", {}),
    ("GET", "http://s3.example:9000/b-1/?continuation-token=a%2Bb%3D&list-type=2&prefix=x", b"",
     {}),
    ("PUT", "http://10.94.5.1:9000/pdc-backup/qlvb-1/data/ab/ab12cd", b"restic pack bytes",
     {"content-md5": "1B2M2Y8AsgTpgAmY7PhCfg=="}),
])
def test_signature_matches_botocore(method, url, body, extra):
    request = AWSRequest(method=method, url=url, data=body, headers=dict(extra))
    S3SigV4Auth(Credentials(KEY_ID, SECRET), "s3", "ap-southeast-1").add_auth(request)
    theirs = request.headers["Authorization"]
    signed = re.search(r"SignedHeaders=([^,]+)", theirs).group(1).split(";")
    headers = {name: request.headers[name] for name in signed if name != "host"}
    split = urllib.parse.urlsplit(url)
    headers["host"] = split.netloc
    query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
    ours = offsite.authorization(method, split.netloc, urllib.parse.unquote(split.path), query,
                                 headers, request.headers["X-Amz-Content-SHA256"], KEY_ID,
                                 SECRET, "ap-southeast-1", request.headers["X-Amz-Date"])
    assert ours == theirs


@pytest.fixture(scope="module")
def bucket():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="ap-southeast-1",
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    s3.create_bucket(Bucket="pdc-backup", ObjectLockEnabledForBucket=True,
                     CreateBucketConfiguration={"LocationConstraint": "ap-southeast-1"})
    s3.put_object_lock_configuration(Bucket="pdc-backup", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 90}}})
    yield endpoint, s3
    server.stop()


def make_repo(root, files: dict[str, bytes]):
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_copy_sends_what_is_missing_and_locks_it(bucket, tmp_path, monkeypatch):
    endpoint, s3 = bucket
    repo = make_repo(tmp_path / "qlvb-1", {
        "config": b"\x00encrypted config", "keys/k1": b"key", "data/ab/ab01": b"p" * 5000,
        "index/i1": b"idx", "snapshots/s1": b"snap", "locks/l1": b"lock"})
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"access_key_id": KEY_ID, "secret_access_key": SECRET}))
    conf = tmp_path / "offsite.json"
    conf.write_text(json.dumps({"endpoint": endpoint, "region": "ap-southeast-1",
                                "bucket": "pdc-backup", "credentials": str(creds),
                                "repositories": {"qlvb-1": str(repo)}}))
    logged = []
    monkeypatch.setattr(offsite, "report", lambda prio, msg: logged.append((prio, msg)))
    monkeypatch.setattr(offsite, "STATE", tmp_path / "last-success")

    assert offsite.main(["provdc-offsite", str(conf)]) == 0
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="pdc-backup")["Contents"]}
    assert keys == {"qlvb-1/config", "qlvb-1/keys/k1", "qlvb-1/data/ab/ab01",
                    "qlvb-1/index/i1", "qlvb-1/snapshots/s1"}
    assert logged[-1][0] == "info" and "files=5" in logged[-1][1]
    got = s3.get_object(Bucket="pdc-backup", Key="qlvb-1/data/ab/ab01")
    assert got["Body"].read() == b"p" * 5000
    assert got["ObjectLockMode"] == "COMPLIANCE"

    make_repo(repo, {"snapshots/s2": b"snap 2"})
    assert offsite.main(["provdc-offsite", str(conf)]) == 0
    assert "files=1 " in logged[-1][1]
    assert offsite.main(["provdc-offsite", str(conf)]) == 0
    assert "files=0 " in logged[-1][1]
    assert (tmp_path / "last-success").read_text().split()[1] == "0"

    conf.write_text(json.dumps({**json.loads(conf.read_text()), "bucket": "no-such-bucket"}))
    assert offsite.main(["provdc-offsite", str(conf)]) == 1
    assert logged[-1][0] == "err" and "step=copy:qlvb-1" in logged[-1][1]
    assert "NoSuchBucket" in logged[-1][1]


def test_a_bad_configuration_is_refused_before_any_request(tmp_path, monkeypatch):
    conf = tmp_path / "offsite.json"
    conf.write_text(json.dumps({"endpoint": "file:///etc", "region": "x", "bucket": "B_",
                                "credentials": "/nonexistent",
                                "repositories": {"../x": "relative"}}))
    logged = []
    monkeypatch.setattr(offsite, "report", lambda prio, msg: logged.append((prio, msg)))
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("request made"))
    assert offsite.main(["provdc-offsite", str(conf)]) == 1
    prio, msg = logged[-1]
    assert prio == "err" and "step=config" in msg
    for part in ("endpoint", "bucket", "region", "repository"):
        assert part in msg, msg
