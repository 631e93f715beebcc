"""The lab itself, live (root + systemd-nspawn; skipped elsewhere): hosts, network, tools."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab
VENV_BIN = Path(sys.executable).parent


def _ssh_all(lab, cmd: str) -> dict[str, str]:
    """Run cmd on every host in parallel; host -> stdout."""
    procs = {
        h.name: subprocess.Popen(
            ["ssh", "-F", str(lab.ssh_config), "-o", "BatchMode=yes", h.name, cmd],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        )
        for h in lab.hosts
    }
    out = {}
    for name, p in procs.items():
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, f"{name}: {cmd!r} exited {p.returncode}: {stderr}"
        out[name] = stdout
    return out


def test_fixture_host_records_carry_their_inventory_vars(lab):
    assert lab.name and lab.inventory.is_file() and lab.loaded.topology.services
    for h in lab.hosts:
        assert h.vars["ansible_host"] == h.address
        assert h.vars["provdc_netns"] == lab.netns(h.name)
        assert h.groups and h.vars["provdc_role"] == h.role


def test_every_host_answers_ssh_with_its_hostname_and_address(lab):
    out = _ssh_all(lab, "hostname; ip -4 -o addr show dev eth0")
    for h in lab.hosts:
        hostname, addr_line = out[h.name].splitlines()[:2]
        assert hostname == h.name
        assert f" {h.address}/{h.prefix_len} " in addr_line


def test_every_host_runs_systemd_fully(lab):
    out = _ssh_all(lab, "systemctl is-system-running --wait; "
                   "systemctl --failed --no-legend --plain")
    for name, text in out.items():
        assert text.splitlines()[0] == "running", f"{name}: {text}"


def test_hosts_have_distinct_identities(lab):
    out = _ssh_all(lab, "cat /etc/machine-id; ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub")
    ids = [v.split()[0] for v in out.values()]
    fingerprints = [v.splitlines()[1].split()[1] for v in out.values()]
    assert len(set(ids)) == len(ids)
    assert len(set(fingerprints)) == len(fingerprints)


def test_hosts_cannot_see_each_others_filesystems(lab):
    a, b = lab.hosts[0].name, lab.hosts[1].name
    lab.ssh(a, "echo secret-of-a > /root/marker-a")
    assert lab.ssh(b, "test -e /root/marker-a", check=False).returncode == 1
    mounts = lab.ssh(b, "cat /proc/self/mountinfo").stdout
    assert "/hosts/" + a not in mounts  # no other host's overlay is visible
    lab.ssh(a, "rm /root/marker-a")


def test_global_kernel_settings_are_read_only_inside_hosts(lab):
    h = lab.hosts[0].name
    # write the value it already has: were /proc/sys writable, nothing would change
    current = lab.ssh(h, "cat /proc/sys/kernel/pid_max").stdout.strip()
    r = lab.ssh(h, f"sysctl -w kernel.pid_max={current}", check=False)
    assert r.returncode != 0
    # per-namespace network settings are the host's own
    lab.ssh(h, "sysctl -w net.ipv4.conf.all.log_martians=1")


def test_gateways_route_and_their_uplink_is_the_path(lab):
    dc = lab.group("dc_hosts")[0]
    for gw in lab.group("gateways"):
        v = lab.vars(gw.name)
        assert lab.ssh(gw.name, "cat /proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
        route = lab.ssh(gw.name, f"ip route get {dc.address}").stdout
        assert f"via {v['provdc_wan_core_address']} dev {v['provdc_uplink_if']}" in route
        core_route = lab.core_exec(["ip", "route", "get", v["provdc_site_lan"].split("/")[0]])
        assert f"via {gw.address} dev {v['provdc_core_peer_if']}" in core_route.stdout


def test_site_hosts_reach_the_dc_through_their_gateway(lab):
    dc = lab.group("dc_hosts")[0]
    for agency in lab.group("agency_hosts"):
        gw = lab.host(agency.gateway_host)
        before = int(lab.ssh(gw.name, "cat /sys/class/net/eth0/statistics/tx_packets").stdout)
        lab.ssh(agency.name, f"ping -c 3 -i 0.2 -W 2 {dc.address}")
        # TCP too: the DC host's sshd
        lab.ssh(agency.name, f"nc -z -w 3 {dc.address} 22")
        after = int(lab.ssh(gw.name, "cat /sys/class/net/eth0/statistics/tx_packets").stdout)
        assert after - before >= 3, f"{agency.name}'s traffic did not cross {gw.name}'s uplink"
        route = lab.ssh(agency.name, f"ip route get {dc.address}").stdout
        assert f"via {agency.default_gw}" in route


def test_dc_zones_reach_each_other_and_the_sites(lab):
    dcs = lab.group("dc_hosts")
    src, dst = dcs[0], next(h for h in dcs if h.zone != dcs[0].zone)
    lab.ssh(src.name, f"ping -c 2 -i 0.2 -W 2 {dst.address}")
    agency = lab.group("agency_hosts")[0]
    lab.ssh(src.name, f"ping -c 2 -i 0.2 -W 2 {agency.address}")


def test_nothing_is_routed_from_the_machine_itself(lab):
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    addrs = subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True).stdout
    for h in lab.hosts[:3]:
        assert h.address not in routes and h.address not in addrs
    for net in ("10.94.", "172.16."):
        assert net not in routes and net not in addrs


def test_ansible_ping_all(lab):
    r = lab.ansible("all", "-m", "ping", "-o")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("SUCCESS") == len(lab.hosts)


def test_pyinfra_exec(lab):
    r = subprocess.run(
        [str(VENV_BIN / "pyinfra"), "-y", str(lab.pyinfra_inventory), "exec", "--", "uname -n"],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout + r.stderr  # pyinfra logs host output on stderr
    for h in lab.hosts:
        assert f"[{h.name}]" in out


def test_testinfra_against_the_inventory(lab, tmp_path):
    (tmp_path / "test_hosts.py").write_text(
        "def test_sshd(host):\n"
        "    assert host.service('ssh').is_running\n"
        "    assert host.socket('tcp://0.0.0.0:22').is_listening\n"
        "    v = host.ansible.get_variables()\n"
        "    assert host.check_output('hostname') == v['inventory_hostname']\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         "--hosts=ansible://all", f"--ansible-inventory={lab.inventory}",
         str(tmp_path / "test_hosts.py")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**__import__("os").environ, "PATH": f"{VENV_BIN}:" + __import__("os").environ["PATH"]},
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert f"{len(lab.hosts)} passed" in r.stdout


def test_fresh_host_is_pristine_and_removed(lab, fresh_host):
    twin = fresh_host("zone:APP")
    assert lab.ssh(twin.name, "hostname").stdout.strip() == twin.name
    assert twin.name not in lab.inventory.read_text()
    inv = lab.inventory_for([twin.name])
    r = lab.ansible("all", "-m", "ping", "-o", inventory=inv)
    assert r.returncode == 0 and r.stdout.count("SUCCESS") == 1
    site_twin = fresh_host("site:" + lab.group("gateways")[0].site)
    lab.ssh(site_twin.name, f"ping -c 1 -W 2 {lab.group('dc_hosts')[0].address}")
