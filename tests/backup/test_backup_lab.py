"""Backups end to end on the lab: the backup play sets up every host the topology's policies
name (restic over SFTP to backup-1), a second run changes nothing, a missing password stops
the play before any host changes; the drill restores a PostgreSQL database backed up while
it was being written (row counts as at dump time) and a files-only host (checksums), and
the audit's VN-BAK checks pass; a failed backup reaches the journal as an error."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.lab

PASSWORD = "lab-only-backup-password-0123456789"
PLAYBOOK = "playbooks/backup.yml"
BACKED_UP = {"qlvb-1", "mail-1", "shared-db-1", "soc-collector-1"}


def recap(output: str) -> dict[str, dict[str, int]]:
    out = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.MULTILINE):
        out[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return out


def provdc(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PROVDC_BACKUP_PASSWORD": PASSWORD}
    return subprocess.run([sys.executable, "-m", "provdc", *args], capture_output=True,
                          text=True, env=env, timeout=900, check=False)


@pytest.fixture(scope="module")
def backups(lab):
    lab.ssh("shared-db-1", "systemctl start postgresql && runuser -u postgres -- psql -q -c "
            "'CREATE DATABASE csdl' && runuser -u postgres -- psql -q -d csdl -c "
            "'CREATE TABLE ho_so (id serial PRIMARY KEY, noi_dung text); "
            "CREATE TABLE nhat_ky (id serial PRIMARY KEY, t timestamptz DEFAULT now()); "
            "INSERT INTO ho_so (noi_dung) SELECT md5(g::text) FROM generate_series(1, 5000) g'")
    lab.ssh("qlvb-1", "mkdir -p /srv/qlvb/van-ban && for i in $(seq 1 50); do "
            "head -c 20000 /dev/urandom > /srv/qlvb/van-ban/$i.pdf; done")
    first = lab.ansible_playbook(PLAYBOOK, "-e", f"backup_password={PASSWORD}")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    return first


def test_every_policy_host_gets_a_timer_and_a_repository(lab, backups):
    for host in BACKED_UP:
        assert lab.ssh(host, "systemctl is-active provdc-backup.timer").stdout.strip() == "active"
    repos = lab.ssh("backup-1", "ls /srv/provdc-backup").stdout.split()
    assert set(repos) == BACKED_UP
    # the repository is encrypted: its config is not readable without the password
    raw = lab.ssh("backup-1", "head -c 200 /srv/provdc-backup/qlvb-1/repo/config | od -c | head -3")
    assert "chunker" not in raw.stdout
    # hosts without a policy are untouched
    assert lab.ssh("lgsp-1", "test -e /etc/provdc/backup", check=False).returncode != 0


KEY_OPTS = ("-i /etc/provdc/backup/id_ed25519 -o BatchMode=yes -o IdentitiesOnly=yes "
            "-o UserKnownHostsFile=/etc/provdc/backup/known_hosts")


def sftp_from(lab, host: str, account: str, commands: str) -> subprocess.CompletedProcess:
    """sftp from `host` with its own backup key, as `account`, on the repository host."""
    return lab.ssh(host, f"printf '%s\\n' {commands} | sftp -b - {KEY_OPTS} {account}@"
                         f"{lab.host('backup-1').address}", check=False)


def listed(out: str) -> set[str]:
    return {t for line in out.splitlines() if not line.startswith("sftp>") for t in line.split()}


def test_a_client_cannot_touch_another_clients_repository(lab, backups):
    mail_config = "sha256sum /srv/provdc-backup/mail-1/repo/config"
    before = lab.ssh("backup-1", mail_config).stdout
    # its own account: a chroot holding its repository and nothing else, read-only around it
    root = sftp_from(lab, "qlvb-1", "bk-qlvb-1", "'ls -1a /'")
    assert root.returncode == 0 and listed(root.stdout) == {"/.", "/..", "/repo"}, root
    repo = sftp_from(lab, "qlvb-1", "bk-qlvb-1", "'ls /repo'")
    assert "/repo/config" in listed(repo.stdout), repo
    for attempt in ("'ls /srv/provdc-backup/mail-1/repo'", "'get ../mail-1/repo/config /tmp/x'",
                    "'rm /../mail-1/repo/config'", "'get /etc/passwd /tmp/x'", "'mkdir /x'"):
        refused = sftp_from(lab, "qlvb-1", "bk-qlvb-1", attempt)
        assert refused.returncode != 0, (attempt, refused.stdout)
    # the other client's account does not take this client's key
    other = sftp_from(lab, "qlvb-1", "bk-mail-1", "'ls /'")
    assert other.returncode != 0 and "Permission denied" in other.stderr, other.stderr
    shell = lab.ssh("qlvb-1", f"ssh {KEY_OPTS} bk-qlvb-1@{lab.host('backup-1').address} id",
                    check=False)
    assert shell.returncode != 0 and "uid=" not in shell.stdout
    assert lab.ssh("backup-1", mail_config).stdout == before
    # and its password does not open another client's repository (each is derived per host)
    pw = lab.ssh("qlvb-1", "cat /etc/provdc/backup/password").stdout
    opened = lab.ssh("backup-1", f"RESTIC_PASSWORD={shlex.quote(pw)} restic --no-lock -r "
                     "/srv/provdc-backup/mail-1/repo cat config", check=False)
    assert opened.returncode != 0 and "wrong password" in opened.stderr, opened.stderr
    mine = lab.ssh("backup-1", f"RESTIC_PASSWORD={shlex.quote(pw)} restic --no-lock -r "
                   "/srv/provdc-backup/qlvb-1/repo cat config", check=False)
    assert mine.returncode == 0 and "chunker_polynomial" in mine.stdout, mine.stderr


def test_second_run_changes_nothing(lab, backups):
    again = lab.ansible_playbook(PLAYBOOK, "-e", f"backup_password={PASSWORD}")
    assert again.returncode == 0, again.stdout[-2000:]
    changed = {h: r["changed"] for h, r in recap(again.stdout).items() if r["changed"]}
    assert changed == {}


def test_no_password_stops_the_play_before_any_host(lab, backups):
    env_free = lab.ansible_playbook(PLAYBOOK, "-e", "backup_password=")
    assert env_free.returncode != 0
    assert "backup_password" in env_free.stdout and "never kept in the project" in env_free.stdout
    assert all(r["changed"] == 0 for r in recap(env_free.stdout).values())


def test_drill_restores_a_database_written_during_the_backup(lab, backups):
    writer = ("for i in $(seq 1 400); do runuser -u postgres -- psql -q -d csdl -c "
              "'INSERT INTO nhat_ky DEFAULT VALUES'; done")
    lab.ssh("shared-db-1", f"nohup bash -c {shlex.quote(writer)} < /dev/null > /dev/null 2>&1 &")
    result = provdc("backup", "drill", "-i", str(lab.inventory), "shared-db-1", "-f", "json")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    doc = json.loads(result.stdout)
    db = doc["databases"]["csdl"]
    assert db["tables"] == 2 and db["mismatched"] == {}
    assert db["rows"] >= 5000  # ho_so's rows plus what the writer had committed at dump time
    assert doc["files"]["checked"] > 0 and doc["files"]["mismatched"] == []
    assert doc["recovery_seconds"] > 0 and doc["passed"] is True
    kept = json.loads(lab.ssh("backup-1", "cat /var/lib/provdc-backup/drills/shared-db-1.json")
                      .stdout)
    assert kept["snapshot"] == doc["snapshot"]


def test_drill_restores_a_file_set_with_matching_checksums(lab, backups):
    result = provdc("backup", "drill", "-i", str(lab.inventory), "qlvb-1", "-f", "json")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    doc = json.loads(result.stdout)
    assert doc["files"]["matched"] >= 50 and doc["files"]["mismatched"] == []
    assert doc["files"]["missing"] == [] and doc["databases"] == {}


def test_drill_of_a_host_without_policy_is_one_paragraph(lab, backups):
    result = provdc("backup", "drill", "-i", str(lab.inventory), "lgsp-1")
    assert result.returncode == 2
    assert "has no backup policy" in result.stderr and "Traceback" not in result.stderr


def test_audit_backup_checks_pass_after_a_drill(lab, backups):
    proof = lab.compliance("test_backup.py", "qlvb-1")
    assert proof.returncode == 0, proof.stdout[-3000:]
    assert "4 passed" in proof.stdout


def test_a_failed_backup_is_an_error_in_the_journal(lab, backups):
    lab.ssh("mail-1", "cp /etc/provdc/backup/password /root/pw.keep && "
            "echo wrong-password-wrong-password > /etc/provdc/backup/password")
    try:
        run = lab.ssh("mail-1", "systemctl start provdc-backup.service", check=False)
        assert run.returncode != 0
        logged = lab.ssh("mail-1", "journalctl -t provdc-backup -p err --no-pager -n 5").stdout
        assert "backup FAILED host=mail-1" in logged
    finally:
        lab.ssh("mail-1", "install -m 0400 /root/pw.keep /etc/provdc/backup/password && "
                "rm /root/pw.keep")


# --- the off-site copy, into a real moto server in the lab's core namespace ------------------

MOTO_PORT = 9000  # inside the lab's own core namespace: nothing else listens there
BUCKET = "pdc-backup"
CREDS = {"AWS_ACCESS_KEY_ID": "lab-offsite-key", "AWS_SECRET_ACCESS_KEY": "lab-offsite-secret"}
MAKE_BUCKET = f"""
import boto3, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="ap-southeast-1",
                  aws_access_key_id="x", aws_secret_access_key="y")
s3.create_bucket(Bucket="{BUCKET}", ObjectLockEnabledForBucket=True,
                 CreateBucketConfiguration={{"LocationConstraint": "ap-southeast-1"}})
s3.put_object_lock_configuration(Bucket="{BUCKET}", ObjectLockConfiguration={{
    "ObjectLockEnabled": "Enabled",
    "Rule": {{"DefaultRetention": {{"Mode": "COMPLIANCE", "Days": 120}}}}}})
"""
LOCKS = f"""
import boto3, json, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="ap-southeast-1",
                  aws_access_key_id="x", aws_secret_access_key="y")
keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket="{BUCKET}")
        for o in p.get("Contents", [])]
modes = {{s3.head_object(Bucket="{BUCKET}", Key=k).get("ObjectLockMode") for k in keys[:20]}}
print(json.dumps({{"keys": keys, "modes": sorted(m or "none" for m in modes)}}))
"""


@pytest.fixture(scope="module")
def object_storage(lab, backups):
    """moto on the BACKUP zone's gateway address, in the lab's core namespace (the lab's
    stand-in for the cloud's object storage), with a bucket locked in COMPLIANCE mode."""
    route = lab.core_exec(f"ip -4 -o route get {lab.host('backup-1').address}").stdout
    address = re.search(r" src (\S+)", route).group(1)
    endpoint = f"http://{address}:{MOTO_PORT}"
    server = subprocess.Popen(["nsenter", f"--net=/run/netns/{lab.core_netns}", sys.executable,
                               "-m", "moto.server", "-H", address, "-p", str(MOTO_PORT)],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(60):
            if lab.core_exec(f"{sys.executable} -c 'import urllib.request; urllib.request."
                             f"urlopen(\"{endpoint}/moto-api/\")'", check=False).returncode == 0:
                break
            time.sleep(1)
        lab.core_exec([sys.executable, "-c", MAKE_BUCKET, endpoint])
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def offsite(lab, object_storage):
    play = lab.ansible_playbook(
        PLAYBOOK, "--limit", "backup-1", "-e", f"backup_password={PASSWORD}",
        "-e", f"backup_offsite_bucket={BUCKET}", "-e", f"backup_offsite_endpoint={object_storage}",
        "-e", f"backup_offsite_access_key_id={CREDS['AWS_ACCESS_KEY_ID']}",
        "-e", f"backup_offsite_secret_access_key={CREDS['AWS_SECRET_ACCESS_KEY']}")
    assert play.returncode == 0, play.stdout[-3000:]
    lab.ssh("qlvb-1", "systemctl start provdc-backup.service", timeout=600)  # QLVB's files now
    run = lab.ssh("backup-1", "systemctl start provdc-offsite.service", check=False, timeout=600)
    assert run.returncode == 0, lab.ssh("backup-1", "journalctl -t provdc-offsite -n 5").stdout
    return object_storage


def test_offsite_copy_is_scheduled_and_reported(lab, offsite):
    assert lab.ssh("backup-1", "systemctl is-active provdc-offsite.timer").stdout.strip() \
        == "active"
    logged = lab.ssh("backup-1", "journalctl -t provdc-offsite -p info --no-pager -n 3").stdout
    assert f"offsite ok bucket={BUCKET} repositories=3" in logged, logged  # level >= 3 only
    creds = lab.ssh("backup-1", "stat -c '%U %a' /etc/provdc/backup/offsite-credentials.json")
    assert creds.stdout.split() == ["root", "400"]


def test_offsite_copy_is_locked_and_holds_only_level_3_hosts(lab, offsite):
    found = json.loads(lab.core_exec([sys.executable, "-c", LOCKS, offsite]).stdout)
    hosts = {k.split("/", 1)[0] for k in found["keys"]}
    assert hosts == {"qlvb-1", "shared-db-1", "soc-collector-1"}  # mail is level 2
    assert not [k for k in found["keys"] if "/locks/" in k]
    assert found["modes"] == ["COMPLIANCE"]


def test_offsite_copy_restores_with_restic_alone(lab, offsite):
    pw = lab.ssh("qlvb-1", "cat /etc/provdc/backup/password").stdout
    env = " ".join(f"{k}={v}" for k, v in CREDS.items())
    restic = (f"{env} RESTIC_PASSWORD={shlex.quote(pw)} restic --no-lock "
              f"-r s3:{offsite}/{BUCKET}/qlvb-1")
    remote = json.loads(lab.ssh("backup-1", f"{restic} snapshots --json").stdout)
    local = json.loads(lab.ssh("backup-1", f"RESTIC_PASSWORD={shlex.quote(pw)} restic "
                               "--no-lock -r /srv/provdc-backup/qlvb-1/repo snapshots --json")
                       .stdout)
    assert {s["id"] for s in local} <= {s["id"] for s in remote}
    lab.ssh("backup-1", f"rm -rf /var/tmp/offsite-check && {restic} restore latest --target "
            "/var/tmp/offsite-check --include /srv/qlvb/van-ban/7.pdf", timeout=300)
    restored = lab.ssh("backup-1", "sha256sum < /var/tmp/offsite-check/srv/qlvb/van-ban/7.pdf"
                       " && rm -rf /var/tmp/offsite-check").stdout
    assert restored == lab.ssh("qlvb-1", "sha256sum < /srv/qlvb/van-ban/7.pdf").stdout


def test_audit_offsite_check_passes_on_the_repository_host(lab, offsite):
    proof = lab.compliance("test_backup.py", "backup-1")
    assert proof.returncode == 0, proof.stdout[-3000:]
    assert "1 passed" in proof.stdout, proof.stdout[-2000:]


def test_a_failed_offsite_copy_is_an_error_in_the_journal(lab, offsite):
    conf = "/etc/provdc/backup/offsite.json"
    lab.ssh("backup-1", f"cp {conf} /root/offsite.keep && sed -i "
            f"'s/\"{BUCKET}\"/\"no-such-bucket\"/' {conf}")
    try:
        run = lab.ssh("backup-1", "systemctl start provdc-offsite.service", check=False)
        assert run.returncode != 0
        logged = lab.ssh("backup-1", "journalctl -t provdc-offsite -p err --no-pager -n 3").stdout
        assert "offsite FAILED step=copy:" in logged and "NoSuchBucket" in logged, logged
    finally:
        lab.ssh("backup-1", f"install -m 0600 /root/offsite.keep {conf} && rm /root/offsite.keep")
