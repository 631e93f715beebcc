"""A VM lab host (QEMU, its own kernel) against a container host, in the same run.

    sudo .venv/bin/python benchmarks/vm_bench.py [--lynis] [--write]
    sudo .venv/bin/python benchmarks/vm_bench.py --render   # the section again, from RESULTS

Brings up its own lab (`bench-vm-<pid>`): `lgsp-1` as a VM and `qlvb-1` as a container, both
in the APP zone at security level 3, and measures:

- boot: `lab up` of that lab (image cached; the VM's SSH answering is what it waits for),
  against `lab up` of the same two hosts as containers, just before; and the VM's own
  account of its boot (`systemd-analyze`: kernel, initrd, user space);
- `baseline.yml`: first converge and no-op re-run, on the VM and on the container host, one
  after the other (`--limit`), so the ratio compares the same role on the same machine;
- the VM's memory (QEMU's resident set) after boot and after the converges, and the
  accelerator the probe chose;
- with `--lynis`: Lynis's hardening index on both hardened hosts (at the same time), with
  every remaining suggestion on the VM (`lynis audit system --quick`, 20-40 min under TCG).
  Lynis runs as a transient systemd unit on each host, so a long run does not hang on one
  SSH session.

Every stage's figures go to RESULTS (JSON) as soon as they are measured; `--write` puts the
section *vm* of benchmarks/README.md together from them (also after each stage: a long run
keeps what it measured), and `--render` does so again without a lab (after editing WHY).
The lab is always taken down, also on `kill PID` (SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import textwrap
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "modules"))
sys.path.insert(0, str(REPO / "benchmarks"))

from _table import markdown_table, write_section  # noqa: E402

from provdc.lab import runtime  # noqa: E402
from provdc.lab import vm as vm_mod  # noqa: E402
from provdc.lab.model import make_vms, plan_lab  # noqa: E402
from provdc.lab.pytest_plugin import LabHandle, default_topology, project_root, tear_down  # noqa: E402
from provdc.topology.validate import load  # noqa: E402

VM, CT = "lgsp-1", "qlvb-1"
RESULTS = Path("/var/tmp/provdc-vm-bench.json")
RECAP = re.compile(r"^(\S+)\s*: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
STARTUP = re.compile(r"Startup finished in (.*?) = ([\d.]+min [\d.]+s|[\d.]+s)")
LYNIS_UNIT = "provdc-bench-lynis"
LYNIS_TIMEOUT = 5400
LYNIS_AIM = 90  # the aim for a hardened real-kernel host
# Lynis's own log of the last run, per host (to read what an item scored short on)
LYNIS_LOG = "/var/tmp/provdc-vm-bench-lynis-{host}.log"
# `up`'s wait for SSH (a lab with VMs adds runtime.VM_BOOT_ALLOWANCE): a TCG boot beside
# other engineers' labs took 8 min, so the benchmark waits longer than `lab up` does.
SSH_TIMEOUT = 1500
CONSOLE_KEPT = Path("/var/tmp/provdc-vm-bench-console.log")
# The image build's cost is measured by building it, not per run (`ensure_image`).
BUILD_NOTE = (
    "Building the initramfs once, after the install, instead of at the kernel's postinst "
    "and again at initramfs-tools' trigger: 798 s before, 762 s after, the two recipes "
    "built side by side on 2026-12-03 (load 9-25), so each saw the same machine. Most of "
    "a build is apt's download and dpkg's unpacking, not the initramfs.")
# Why each Lynis suggestion left on the hardened VM stays (by Lynis test id). A suggestion
# not listed here is printed as not reviewed: the table then says so.
WHY: dict[str, str] = {
    "LYNIS": "the audit uses Debian 12's own Lynis package (3.0.8): hosts install from the "
             "Debian mirror only",
    "DEB-0810": "apt-listbugs asks bugs.debian.org at every install; agency hosts have no "
                "Internet",
    "DEB-0811": "apt-listchanges: low value where unattended-upgrades installs from the "
                "province's mirror; not added (a package in the image and a control)",
    "DEB-0880": "fail2ban would ban the SOC proof's deliberate failed logins and the "
                "operators' automation behind one NAT address; brute force is limited by "
                "`MaxAuthTries`, `MaxStartups`, pam_faillock and the SSH-from-MGMT-only host "
                "firewall",
    "BOOT-5264": "`systemd-analyze security` rates Debian's own service units; sandboxing "
                 "each is a per-service control's work (the SOC and DB roles), not the "
                 "baseline's",
    "FILE-6310": "the lab VM has one disk; separate /home and /var belong to a real server's "
                 "installation (its disk layout), not to the baseline role; /tmp is its own "
                 "tmpfs (VN-FS-04)",
    "NAME-4028": "the lab has no DNS service (an empty resolv.conf); a real host gets its "
                 "domain with the province's resolvers",
    "NETW-3200": "Lynis 3.0.8 recognises only `install X /bin/true`; the catalogue follows "
                 "CIS (`install X /bin/false` + `blacklist`, VN-NET-08, proven on this "
                 "kernel by `modprobe -n -v`), which makes a load attempt fail visibly: "
                 "disabled either way",
    "SSH-7408": "what is left is `MaxSessions` 2 and another port (`MaxAuthTries` is 3, "
                "VN-SSH-04): CIS asks `MaxSessions` at most 10, and operators' OpenSSH "
                "(ControlMaster, as Ansible and the lab's ssh_config use it) runs every "
                "session to a host over one connection; the flow matrix and the TSLCD rules "
                "use port 22",
    "LOGG-2154": "Lynis only recognises `@@host` forwarding; hosts forward over RELP/TLS "
                 "(`soc.yml`), and a baseline-only run has no forwarding at all",
    "ACCT-9626": "sysstat: low value, not added (a package in the image and a control)",
    "FINT-4316": "the AIDE database: `aideinit` hashes the whole file system (minutes on a "
                 "server, most of an hour under TCG); it belongs to the host's go-live, not "
                 "to every converge",
    "FINT-4402": "Debian's aide.conf sets `Checksums = H` (every hash AIDE has, SHA-256 and "
                 "SHA-512 among them); Lynis looks for the words sha256/sha512",
    "KRNL-6000": "Lynis's default profile asks sysctls the catalogue does not set, or sets "
                 "otherwise: each one it found different is listed below with why",
    "HRDN-7222": "binutils' assembler is world-executable; restricting it needs a "
                 "`dpkg-statoverride` kind (survives upgrades), a candidate for the next "
                 "catalogue",
    # items Lynis scores short of their points without a suggestion
    "USB-3000": "USBGuard would guard nothing: the hosts run Debian's cloud kernel, built "
                "without USB (`CONFIG_USB_SUPPORT is not set`), so no USB device can attach; "
                "on a generic kernel VN-FS-02 keeps usb-storage from loading",
    "KRNL-5820": "the point left is for `ulimit -c 0` in a profile script, which only sets "
                 "a login shell's limit; the hard limit 0 for every session (VN-KRN-04), "
                 "`fs.suid_dumpable` 0 (VN-KRN-03) and systemd-coredump's `Storage=none` "
                 "(VN-KRN-08) already keep core dumps from being written",
    "FILE-6374": "/dev lacks `noexec`: systemd mounts the kernel's devtmpfs there with "
                 "`nosuid` only, and CIS asks nothing of /dev; every mount point Lynis finds "
                 "has the options it wants otherwise (/tmp and /dev/shm: VN-FS-04/03); "
                 "separate /home, /var, /var/log are a real server's partitioning",
    "SSH-7440": "`AllowUsers`/`AllowGroups` name the province's administrators, which only "
                "the agency knows; SSH is reachable from the MGMT zone only (VN-NET-09 and "
                "the segmentation role)",
    "MACF-6290": "no MAC framework Lynis recognises: AppArmor is on in Debian's kernel but "
                 "its tools (`apparmor` package) are not in the image; CIS 1.3.1 (AppArmor "
                 "installed, profiles enforcing) is a candidate for the next catalogue",
    "TOOL-5190": "an IDS/IPS on each host (fail2ban, Suricata): see DEB-0880; network "
                 "detection is the SOC's (the 4-layer model), not the baseline's",
    "MALW-3280": "no antivirus daemon: rkhunter scans for rootkits (VN-SVC-06, Lynis "
                 "MALW-3276 full points); an AV agent with current signatures is the "
                 "province's endpoint product, reporting to the SOC, not a Debian package",
    "HRDN-7220": "binutils, which Lynis counts as a compiler, is a dependency of rkhunter "
                 "(VN-SVC-06): removing it would remove the rootkit scanner",
}
# Why each sysctl Lynis's profile wants differently stays as the catalogue has it.
SYSCTL_WHY: dict[str, str] = {
    "fs.protected_fifos": "1, as Debian's own /usr/lib/sysctl.d/99-protect-links.conf sets "
                          "it (read after ours) and CIS asks",
    "kernel.modules_disabled": "1 would stop every module from loading until a reboot "
                               "(nftables and the network drivers load theirs on demand)",
    "kernel.core_uses_pid": "names core files by PID; no core file is written "
                            "(VN-KRN-03/04/08)",
}


def timed(fn):
    start = time.monotonic()
    result = fn()
    return time.monotonic() - start, result


def up_lab(name: str, vms: list[str]) -> LabHandle:
    """`lab up` of the two hosts (as pytest_plugin.bring_up, with a longer SSH wait)."""
    root = project_root()
    loaded = load(default_topology(root))
    plan = make_vms(plan_lab(loaded, name, "small", [], ["lgsp", "qlvb"]), vms)
    runtime.up(plan, root / "inventory" / f"lab-{name}", log=lambda m: None,
               timeout=SSH_TIMEOUT)
    return LabHandle(name, loaded, root)


def keep_console(name: str) -> None:
    """The VM's console log survives `down` (why a boot or a run failed)."""
    console = runtime.LabDir(name).host(VM) / "console.log"
    if console.is_file():
        CONSOLE_KEPT.write_bytes(console.read_bytes())
        print(f"the VM's console log: {CONSOLE_KEPT}", flush=True)


def level3_inventory(lab: LabHandle, names: list[str]) -> Path:
    data = yaml.safe_load(lab.inventory_for(names).read_text())
    for hostvars in data["all"]["hosts"].values():
        hostvars["provdc_security_level"] = 3
    path = runtime.LabDir(lab.name).root / "bench-hosts.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def converge(lab: LabHandle, inv: Path, host: str) -> dict:
    took, proc = timed(lambda: lab.ansible_playbook("playbooks/baseline.yml", "--limit", host,
                                                    inventory=inv, timeout=3600))
    recap = {m[0]: (int(m[2]), int(m[3]), int(m[4])) for m in RECAP.findall(proc.stdout)}
    changed, unreachable, failed = recap.get(host, (-1, -1, -1))
    if failed != 0 or unreachable != 0:
        raise SystemExit(f"baseline.yml failed on {host}:\n{proc.stdout[-3000:]}")
    return {"seconds": round(took, 1), "changed": changed}


def rss_mb(pid: int | None) -> float:
    if pid is None:
        return 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def guest_boot(lab: LabHandle) -> str:
    """systemd's own account of the VM's boot ("3.1s (kernel) + 20s (initrd) + ... = 70s")."""
    # SSH answers before the boot is over; systemd-analyze tells only once it is
    out = lab.ssh(VM, "systemctl is-system-running --wait >/dev/null; systemd-analyze time "
                  "2>&1; true", timeout=1200).stdout
    m = STARTUP.search(out)
    return f"{m.group(1)} = {m.group(2)}" if m else out.strip()[:120]


def lynis_start(lab: LabHandle, host: str) -> tuple[str, str, float]:
    """Lynis in a transient unit on the host (host, unit, start time)."""
    unit = f"{LYNIS_UNIT}-{int(time.time())}"
    lab.ssh(host, f"systemd-run --quiet --remain-after-exit --unit {unit} sh -c "
            "'lynis audit system --quick --no-colors --quiet >/dev/null 2>&1; true'",
            timeout=300)
    return host, unit, time.monotonic()


def lynis_wait(lab: LabHandle, started: tuple[str, str, float]) -> dict:
    """Poll until the unit has exited, then read the host's Lynis report."""
    host, unit, start = started
    state = ""
    while time.monotonic() - start < LYNIS_TIMEOUT:
        state = lab.ssh(host, f"systemctl show -P SubState {unit}", check=False,
                        timeout=300).stdout.strip()
        if state in ("exited", "failed", "dead"):
            break
        time.sleep(30)
    else:
        raise SystemExit(f"Lynis on {host} did not finish in {LYNIS_TIMEOUT} s (unit {state})")
    took = time.monotonic() - start
    dat = lab.ssh(host, "cat /var/log/lynis-report.dat", timeout=300).stdout
    found = re.search(r"^hardening_index=(\d+)", dat, re.M)
    if not found:
        raise SystemExit(f"Lynis on {host} wrote no hardening index (unit {state})")
    log = lab.ssh(host, "cat /var/log/lynis.log", timeout=300).stdout
    Path(LYNIS_LOG.format(host=host)).write_text(log)
    return {"index": int(found.group(1)), "minutes": round(took / 60, 1),
            "version": (re.findall(r"^lynis_version=(\S+)", dat, re.M) or ["?"])[0],
            "warnings": _findings(dat, "warning"), "suggestions": _findings(dat, "suggestion"),
            "sysctl_differs": _sysctl_differs(dat), **_points(log)}


def _points(log: str) -> dict:
    """From Lynis's log: the points it counted (earned, possible), every item where it
    gave fewer than possible, as [test id, earned, possible, test description]."""
    test, title, short = "", "", []
    for line in log.splitlines():
        found = re.search(r"Performing test ID ([A-Z]+-\d+) \((.*)\)", line)
        if found:
            test, title = found.groups()
        partial = re.search(r"assigned partial number of hardening points \((\d+) of (\d+)\)",
                            line)
        if partial:
            short.append([test, int(partial.group(1)), int(partial.group(2)), title])
    totals = re.findall(r"Currently having (\d+) points \(out of (\d+)\)", log)
    earned, possible = map(int, totals[-1]) if totals else (0, 0)
    return {"points": [earned, possible], "short": short}


def _sysctl_differs(dat: str) -> list[list[str]]:
    """Each sysctl Lynis's profile expects otherwise (KRNL-6000's details in the report), as
    [key, expected, real]."""
    return [[key, want, got] for key, want, got in re.findall(
        r"^details\[\]=KRNL-6000\|sysctl\|.*?field:([^;]*);prefval:([^;]*);value:([^;]*);",
        dat, re.M)]


def _findings(dat: str, kind: str) -> list[list[str]]:
    """[test id, text, details] per `kind[]=ID|text|details|solution|` line, in order."""
    rows = []
    for line in re.findall(rf"^{kind}\[\]=(.*)$", dat, re.M):
        parts = (line.split("|") + ["", "", ""])[:3]
        rows.append([p.strip() for p in parts])
    return rows


def render(res: dict) -> str:
    rows = []
    if "up" in res:
        up = res["up"]
        rows.append(["`lab up`, 2 hosts (image cached)", f"{up['container']:.1f} s",
                     f"{up['vm']:.1f} s ({up['accel'].upper()})",
                     f"{up['vm'] / up['container']:.0f} ×"])
        if "guest_boot" in up:
            rows.append(["VM start-up to its last unit (`systemd-analyze time`; SSH answers "
                         "before)", "-",
                         up["guest_boot"], ""])
        rows.append(["memory of the VM (QEMU resident), after boot", "~11 MB per container",
                     f"{up['rss_mb']:.0f} MB", ""])
    if "converge" in res:
        cv = res["converge"]
        for label, key in (("first run", "first"), ("re-run (no-op)", "again")):
            ct, vm = cv["container"][key], cv["vm"][key]
            rows.append([f"`baseline.yml` {label}",
                         f"{ct['seconds']:.0f} s (changed={ct['changed']})",
                         f"{vm['seconds']:.0f} s (changed={vm['changed']})",
                         f"{vm['seconds'] / ct['seconds']:.1f} ×"])
        rows.append(["memory of the VM (QEMU resident), after the converges", "",
                     f"{cv['rss_mb']:.0f} MB", ""])
    if "lynis" in res:
        ly = res["lynis"]
        ct = (f"{ly['container']['index']} ({ly['container']['minutes']:.0f} min)"
              if "container" in ly else "-")
        rows.append([f"Lynis {ly['vm']['version']} hardening index after `baseline.yml`", ct,
                     f"**{ly['vm']['index']}** ({ly['vm']['minutes']:.0f} min)", ""])
    table = markdown_table(["", "container host", "VM host", "VM / container"], rows)
    img = res.get("image", {})
    text = "\n" + _wrap(
        f"`benchmarks/vm_bench.py` ({res['date']}, load average {res['load']:.0f} at start, "
        f"2 cores; every figure in the table from this one run, level-3 APP hosts `{CT}` "
        f"(container) and `{VM}` (VM), catalogue of {res.get('controls', '?')} controls):"
    ) + f"\n\n{table}\n"
    if img:
        why_tcg = f" ({img['accel_reason'].rstrip('.')})" if img.get("accel_reason") else ""
        text += "\n" + _wrap(
            f"The VM image (`{img['key']}`, {img['packages']} packages and a kernel): built in "
            f"{img['build_seconds']:.0f} s on {img['built_at'][:10]} (not in this run); a "
            f"{vm_mod.DISK_SIZE} sparse `disk.raw` with {img['written_mb']} MB written, + "
            f"{img['kernel_initrd_mb']} MB kernel and initrd; each VM writes a qcow2 overlay "
            f"on it. Accelerator: {res.get('up', {}).get('accel', '?').upper()}{why_tcg}. "
            f"{BUILD_NOTE}") + "\n"
    if "lynis" in res:
        text += _lynis_text(res["lynis"]["vm"], res["lynis"].get("container"))
    return text


def _wrap(text: str, indent: str = "") -> str:
    return textwrap.fill(text, width=95, subsequent_indent=indent, break_on_hyphens=False,
                         break_long_words=False)


def _lynis_text(ly: dict, ct: dict | None) -> str:
    gone = sorted({f[0] for f in ct["suggestions"]} - {f[0] for f in ly["suggestions"]}) \
        if ct else []
    aim = "at or above" if ly["index"] >= LYNIS_AIM else "below"
    lines = ["\n" + _wrap(
        f"Lynis on the hardened VM: {ly['index']}, {aim} the aim of {LYNIS_AIM}. What a real "
        f"kernel answers that a container cannot (suggestions the container has and the VM "
        f"has not): {', '.join(gone) or 'none'}. {len(ly['warnings'])} warning(s) and "
        f"{len(ly['suggestions'])} suggestion(s) left, each with why it stays:") + "\n"]
    for kind, found in (("warning", ly["warnings"]), ("suggestion", ly["suggestions"])):
        for test, text, details in found:
            detail = f" [{details}]" if details and details != "-" else ""
            lines.append(_wrap(f"- {kind} **{test}** {text.rstrip('.')}{detail}: "
                               f"{_why(test)}.", indent="  "))
    for key, want, got in ly.get("sysctl_differs", []):
        lines.append(_wrap(f"- KRNL-6000 sysctl `{key}` is {got}, Lynis's profile asks "
                           f"{want}: {_why(key, SYSCTL_WHY)}.",
                           indent="  "))
    if ly.get("short"):
        earned, possible = ly["points"]
        need = max(0, -(-LYNIS_AIM * possible // 100) - earned)  # Lynis rounds down
        lines.append("\n" + _wrap(
            f"Points: {earned} of {possible} ({earned * 100 // possible} %; {LYNIS_AIM} "
            f"needs {need} more). Where Lynis gave fewer than it could (test: "
            "earned/possible):") + "\n")
        lines.append(_wrap(", ".join(f"{t} {got}/{top} ({title})"
                                     for t, got, top, title in ly["short"])) + "\n")
        told = {f[0] for f in ly["suggestions"]}
        for test in dict.fromkeys(t for t, *_ in ly["short"] if t not in told):
            lines.append(_wrap(f"- **{test}** (points, no suggestion): {_why(test)}.",
                               indent="  "))
    return "\n".join(lines) + "\n"


def _why(item: str, reasons: dict[str, str] = WHY) -> str:
    """Why a Lynis item (a test id, or a sysctl key with SYSCTL_WHY) stays as it is."""
    return reasons.get(item, "*not reviewed yet*")


def save(res: dict, write: bool) -> None:
    """Keep what is measured so far (a long run keeps it even if a later stage fails)."""
    RESULTS.write_text(json.dumps(res, indent=1))
    print(render(res), flush=True)
    if write:
        write_section("vm", "VM lab hosts (a real kernel)", render(res))


def image_facts() -> dict:
    img = vm_mod.cached()
    if img is None:
        return {}
    recipe = json.loads((img.root / "recipe.json").read_text())
    return {"key": img.key, "packages": len(recipe["packages"]),
            "build_seconds": recipe["build_seconds"], "built_at": recipe["built_at"],
            "written_mb": round(img.disk.stat().st_blocks * 512 / 2**20),
            "kernel_initrd_mb": round((img.kernel.stat().st_size
                                       + img.initrd.stat().st_size) / 2**20),
            "accel_reason": json.loads((img.root / "accel.json").read_text())["reason"]
            if (img.root / "accel.json").is_file() else ""}


def measure(name: str, res: dict, args) -> None:
    from provdc.controls import catalogue

    res["controls"] = len(catalogue().controls)
    ct_up, _ = timed(lambda: up_lab(name, []))
    tear_down(name)
    vm_up, lab = timed(lambda: up_lab(name, [VM]))
    res["image"] = image_facts()
    res["up"] = {"container": round(ct_up, 1), "vm": round(vm_up, 1),
                 "accel": runtime.load_state(name).vm_accel,
                 "rss_mb": round(rss_mb(runtime.host_pid(name, VM)))}
    save(res, args.write)
    inv = level3_inventory(lab, [VM, CT])
    cv = {"container": {}, "vm": {}}
    cv["container"]["first"] = converge(lab, inv, CT)
    cv["vm"]["first"] = converge(lab, inv, VM)
    cv["container"]["again"] = converge(lab, inv, CT)
    cv["vm"]["again"] = converge(lab, inv, VM)
    cv["rss_mb"] = round(rss_mb(runtime.host_pid(name, VM)))
    res["up"]["guest_boot"] = guest_boot(lab)
    res["converge"] = cv
    save(res, args.write)
    if args.lynis:
        # both at once (Lynis's score does not depend on the load; its minutes do)
        vm_run, ct_run = lynis_start(lab, VM), lynis_start(lab, CT)
        res["lynis"] = {"container": lynis_wait(lab, ct_run), "vm": lynis_wait(lab, vm_run)}
        save(res, args.write)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lynis", action="store_true")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--render", action="store_true",
                    help=f"write the section from {RESULTS} (the last run) and stop")
    args = ap.parse_args()
    if args.render:
        write_section("vm", "VM lab hosts (a real kernel)",
                      render(json.loads(RESULTS.read_text())))
        return 0
    name = f"bench-vm-{os.getpid()}"
    # `kill PID` takes the lab down too (a background job ignores SIGINT)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    res = {"date": time.strftime("%Y-%m-%d"), "load": os.getloadavg()[0]}
    try:
        measure(name, res, args)
    finally:
        keep_console(name)
        tear_down(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
