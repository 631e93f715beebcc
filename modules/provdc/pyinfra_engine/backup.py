"""The backup deploy: what the backup role (playbooks/roles/backup) sets up, from the same
specs (provdc.backup.specs), the same script and the same templates (the role's files are
links to provdc/backup/), so both engines leave the same bytes on disk.

On each backed-up host: restic, its own SSH key, the repository host's key, its own
repository password (derived on the controller from the operator's, provdc.backup.secret),
backup.conf, /usr/local/sbin/provdc-backup, the encrypted repository and the timer. On the
repository host: per client an account of its own, chrooted into its own directory by
sshd's Match block (written only after `sshd -t -f` passes; sshd reloaded only after
`sshd -t` passes), SFTP only, its key line root's.

pyinfra orders each host's operations on their own; two `phase` operations that every host
passes order them across hosts: each client's key exists before the repository host reads
it from the client, and the client's account before the client creates its repository. A
client's run must include the repository host (`--limit client --limit backup-1`); the
repository host sets up the accounts of the clients in the run.

    PROVDC_BACKUP_PASSWORD=... pyinfra playbooks/pyinfra/inventory.py playbooks/pyinfra/backup.py
"""

from __future__ import annotations

import io
import json
import os
import shlex
from functools import cache
from pathlib import Path

import jinja2
from pyinfra import host, inventory, logger, state
from pyinfra.api import OperationError, deploy, operation
from pyinfra.operations import apt, files, server

from provdc.backup import offsite, secret
from provdc.backup import specs as backup_specs
from provdc.errors import ProvdcError
from provdc.pyinfra_engine import facts
from provdc.pyinfra_engine import operations as ops
from provdc.pyinfra_engine.deploy import provdc_hostvars, stop
from provdc.pyinfra_engine.selection import ANSIBLE_MANAGED

PACKAGE = Path(backup_specs.__file__).parent
SCRIPT_SOURCE = PACKAGE / "provdc-backup.sh"
SCRIPT = "/usr/local/sbin/provdc-backup"
CONF = "/etc/provdc/backup"
KEY = f"{CONF}/id_ed25519"
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"
UNITS = ("provdc-backup.service", "provdc-backup.timer")
OFFSITE_UNITS = ("provdc-offsite.service", "provdc-offsite.timer")
OFFSITE_CREDENTIALS = f"{CONF}/offsite-credentials.json"


@cache
def all_specs() -> dict:
    """Every host's backup, worked out (and every host checked) once for the whole run."""
    return backup_specs.specs_of_hostvars(provdc_hostvars(), None, "pyinfra inventory")


@cache
def _templates() -> jinja2.Environment:
    # as Ansible's template module: trim_blocks on, trailing newlines kept, `quote` is
    # shlex.quote
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(PACKAGE / "templates")),
                             trim_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["quote"] = shlex.quote
    return env


def render(template: str, **variables) -> str:
    return _templates().get_template(template).render(ansible_managed=ANSIBLE_MANAGED,
                                                       **variables)


def key_line(address: str, public_key: str) -> str:
    """The client's line in its key file: from its own address only, nothing but SFTP."""
    return f'restrict,from="{address}" {public_key.strip()}\n'


@deploy("Backup")
def backup(required: bool = True) -> None:
    """required=False (the whole deploy): without a password, warn and set nothing up, as
    site.yml does; the audit then finds no timer."""
    given = host.data.get("backup_password") or os.environ.get("PROVDC_BACKUP_PASSWORD", "")
    if not given and not required:
        host.log("backups not set up: no PROVDC_BACKUP_PASSWORD (or --data backup_password)",
                 log_func=logger.warning)
        return
    try:
        found = all_specs()
        password = secret.operator_password(given) if found["hosts"] else ""
    except ProvdcError as exc:
        stop(exc)
    repo, spec = found["repository"], found["hosts"].get(host.name)
    if spec is not None and not _in_run(repo["host"]):
        stop(ProvdcError(f"{host.name} is backed up to {repo['host']}, which is not in this "
                         "run", field="--limit", fix=f"add {repo['host']} to --limit: its "
                         f"account for {host.name} is made in the same run"))
    if spec is not None:
        _client_key()
    phase(name="backup: every client's key exists")
    if repo is not None and host.name == repo["host"]:
        _repository(repo, {c: s for c, s in found["hosts"].items() if _in_run(c)})
        if repo["offsite"]:
            _offsite(repo)
    phase(name="backup: every client's account exists")
    if spec is not None:
        _client(spec, repo, secret.host_password(password, host.name))


def _in_run(name: str) -> bool:
    return state.is_host_in_limit(inventory.get_host(name))


def _client_key() -> None:
    apt.packages(name="backup: restic from the Debian packages", packages=["restic"])
    files.directory(name="backup: configuration directory", path=CONF, user="root",
                    group="root", mode="700")
    ssh_key(name="backup: this host's SSH key for the repository", path=KEY,
            comment=f"provdc-backup {host.name}")


def _repository(repo: dict, clients: dict[str, dict]) -> None:
    wanted = ["restic"] + (["postgresql-15"] if any(s["databases"] for s in clients.values())
                           else [])
    apt.packages(name="backup: restic and PostgreSQL for the restore drill", packages=wanted)
    server.group(name="backup: the clients' group", group=repo["group"], system=True)
    for path in (repo["root"], repo["keys_dir"]):
        files.directory(name=f"backup: {path}", path=path, user="root", group="root",
                        mode="755")
    for client, spec in host.loop(sorted(clients.items())):
        server.user(name=f"backup: {client}'s own account", user=spec["account"],
                    group=repo["group"], home=spec["chroot"], shell="/usr/sbin/nologin",
                    system=True, ensure_home=False, create_home=False)
        no_password_login(name=f"backup: {client}'s account has no password, is not locked",
                          user=spec["account"])
        files.directory(name=f"backup: {client}'s chroot (root's)", path=spec["chroot"],
                        user="root", group="root", mode="755")
        files.directory(name=f"backup: {client}'s repository (its own)",
                        path=spec["repository_path"], user=spec["account"],
                        group=repo["group"], mode="700")
        client_key_file(name=f"backup: {client}'s key, from its own address only",
                        path=f"{repo['keys_dir']}/{spec['account']}", client=client,
                        address=str(inventory.get_host(client).data.provdc_address))
    dropin = ops.managed_file(
        name="backup: sshd chroots the clients, SFTP only (sshd -t first)",
        path=repo["sshd_dropin"], mode="0600", validate="/usr/sbin/sshd -t -f %s",
        content=render("sshd-backup.conf.j2", backup_repository=repo))
    ops.run_when(name="backup: sshd reloads only if its whole configuration passes sshd -t",
                 command="/usr/sbin/sshd -t && systemctl reload ssh.service",
                 when=ops.changed([dropin]))
    server.user(name="backup: the shared account of earlier versions is gone",
                user="provdc-backup", present=False)


def _setting(name: str, default: str = "") -> str:
    """An off-site setting: --data backup_offsite_NAME, else PROVDC_OFFSITE_NAME (as the
    role's defaults read them)."""
    return str(host.data.get(f"backup_offsite_{name}")
               or os.environ.get(f"PROVDC_OFFSITE_{name.upper()}") or default)


def _offsite(repo: dict) -> None:
    """The repository host's off-site copy, as the role's offsite.yml."""
    bucket = _setting("bucket")
    if not bucket:
        host.log(f"off-site copy not set up: {', '.join(repo['offsite'])} must go off-site, "
                 "but no bucket was given (PROVDC_OFFSITE_BUCKET)", log_func=logger.warning)
        return
    region = _setting("region", "ap-southeast-1")
    conf = {"endpoint": _setting("endpoint", f"https://s3.{region}.amazonaws.com").strip(),
            "region": region, "bucket": bucket, "credentials": OFFSITE_CREDENTIALS,
            "repositories": repo["offsite"]}
    creds = {"access_key_id": _setting("access_key_id"),
             "secret_access_key": _setting("secret_access_key")}
    wrong = offsite.problems(conf) + [f"no {k}" for k, v in creds.items() if not v]
    if wrong:
        stop(ProvdcError("the off-site copy's settings: " + "; ".join(wrong),
                         field="PROVDC_OFFSITE_*", fix="set PROVDC_OFFSITE_BUCKET (the cloud "
                         "stack's output backup_bucket), PROVDC_OFFSITE_ENDPOINT/REGION if not "
                         "AWS's, and PROVDC_OFFSITE_ACCESS_KEY_ID/SECRET_ACCESS_KEY"))
    files.directory(name="backup: configuration directory", path=CONF, user="root",
                    group="root", mode="700")
    ops.managed_file(name="backup: the off-site copy script", path="/usr/local/sbin/provdc-offsite",
                     mode="0755", content=Path(offsite.__file__).read_bytes())
    files.put(name="backup: the off-site credentials", src=io.StringIO(json.dumps(creds)),
              dest=OFFSITE_CREDENTIALS, user="root", group="root", mode="400")
    ops.managed_file(name="backup: what goes off-site, and where", path=f"{CONF}/offsite.json",
                     mode="0600", content=json.dumps(conf, indent=4, sort_keys=True) + "\n")
    made = [ops.managed_file(name=f"backup: {unit}", path=f"/etc/systemd/system/{unit}",
                             mode="0644", content=render(f"{unit}.j2"))
            for unit in OFFSITE_UNITS]
    ops.unit(name="backup: the off-site timer runs", unit_name="provdc-offsite.timer",
             enabled=True, running=True, daemon_reload=ops.changed(made))


def _client(spec: dict, repo: dict, password: str) -> None:
    known_as = (repo["address"] if repo["port"] == 22
                else f"[{repo['address']}]:{repo['port']}")
    host_key = inventory.get_host(repo["host"]).get_fact(facts.ManagedFile, path=HOST_KEY)
    if host_key is None:
        stop(ProvdcError(f"the repository host {repo['host']} has no {HOST_KEY}",
                         field=repo["host"], fix="check sshd on the repository host"))
    ops.managed_file(name="backup: the repository host's key", path=f"{CONF}/known_hosts",
                     mode="0600", content=f"{known_as} {host_key.content.decode().strip()}\n")
    # files.put compares checksums and never prints the content (managed_file's --diff would)
    files.put(name="backup: this host's repository password", src=io.StringIO(password),
              dest=f"{CONF}/password", user="root", group="root", mode="400")
    ops.managed_file(name="backup: what and where", path=f"{CONF}/backup.conf", mode="0600",
                     content=render("backup.conf.j2", backup_spec=spec, backup_repository=repo))
    ops.managed_file(name="backup: the backup script", path=SCRIPT, mode="0755",
                     content=SCRIPT_SOURCE.read_bytes())
    repository_exists(name="backup: the encrypted repository exists")
    made = [ops.managed_file(name=f"backup: {unit}", path=f"/etc/systemd/system/{unit}",
                             mode="0644", content=render(f"{unit}.j2", backup_spec=spec))
            for unit in UNITS]
    ops.unit(name="backup: the timer runs", unit_name="provdc-backup.timer", enabled=True,
             running=True, daemon_reload=ops.changed(made))


# --- operations ----------------------------------------------------------------------------


@operation()
def phase():
    """Nothing to do. pyinfra orders each host's operations on their own and runs the hosts
    in step, so the repository host's steps would interleave with the clients'; an operation
    every host passes (one call site, one node of pyinfra's order) makes every operation
    written after it wait for every host's operations written before it."""
    yield from ()


@operation()
def ssh_key(path: str, comment: str):
    """An ed25519 key made on the host (its private half never leaves it), once."""
    if host.get_fact(facts.PathMode, path=path) is None:
        yield (f"ssh-keygen -q -t ed25519 -N '' -C {shlex.quote(comment)} "
               f"-f {shlex.quote(path)}")


@operation()
def no_password_login(user: str):
    """Shadow password `*`: no password login, but not locked (sshd refuses the keys of a
    locked account), as the role's `password: "*"`."""
    rc, out = host.get_fact(facts.Probe, command=f"getent shadow {shlex.quote(user)}")
    if rc != 0 or out.split(":")[1:2] != ["*"]:
        yield f"usermod -p '*' {shlex.quote(user)}"


@operation()
def client_key_file(path: str, client: str, address: str):
    """The client's public key, read from the client (made earlier in this run, so read
    again when the operation runs), into the root-owned key file sshd reads for its
    account: 0644, sshd reads it as that user."""
    pub = inventory.get_host(client).get_fact(facts.ManagedFile, path=f"{KEY}.pub")
    if pub is None:
        if state.is_executing:
            raise OperationError(f"{client} has no {KEY}.pub: its key step failed")
        yield f": the key of {client} is made earlier in this run"
        return
    yield from ops.managed_file._inner(path=path, content=key_line(address,
                                                                   pub.content.decode()),
                                       mode="0644")


@operation()
def repository_exists():
    """`provdc-backup init` unless the repository opens with this host's password."""
    rc, _ = host.get_fact(facts.Probe, command=f"{SCRIPT} config > /dev/null")
    if rc != 0:
        yield f"{SCRIPT} init"


__all__ = ["backup"]
