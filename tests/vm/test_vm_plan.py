"""`lab up --vm`: which hosts may be VMs, what the inventory says, the VM image's identity
disk and QEMU's command line (no root, no QEMU run)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from provdc.cli import app
from provdc.errors import ProvdcError
from provdc.lab import inventory, vm
from provdc.lab.model import make_vms, plan_lab
from provdc.topology.validate import load

REPO = Path(__file__).resolve().parents[2]
TOPOLOGY = REPO / "inventory" / "soctrang" / "topology.yml"


@pytest.fixture(scope="module")
def plan():
    return plan_lab(load(TOPOLOGY), "x", "small")


def test_named_hosts_become_vms_and_the_inventory_says_so(plan):
    agency = plan.by_role("agency")[0].name
    make_vms(plan, ["lgsp-1", agency])
    hv = inventory.ansible_inventory(plan, Path("/k"), Path("/cm"))["all"]["hosts"]
    assert hv["lgsp-1"]["provdc_virt"] == "vm" and hv[agency]["provdc_virt"] == "vm"
    assert {v["provdc_virt"] for n, v in hv.items() if n not in ("lgsp-1", agency)} == {
        "container"}
    # a VM answers a new SSH connection slowly: a longer connect timeout for it alone
    assert "ConnectTimeout=60" in hv["lgsp-1"]["ansible_ssh_common_args"]
    assert "ConnectTimeout=10" in hv["qlvb-1"]["ansible_ssh_common_args"]
    cfg = inventory.render_ssh_config(plan, Path("/k"), Path("/cm"))
    block = cfg.split("Host lgsp-1 ", 1)[1].split("\n\n", 1)[0]
    assert "ConnectTimeout 60" in block


@pytest.mark.parametrize(("names", "words"), [
    (["no-such-host"], "does not have: no-such-host"),
    (["gw-phuong-5"], "site gateways cannot be VM hosts"),
])
def test_a_bad_vm_list_is_one_paragraph(names, words):
    fresh = plan_lab(load(TOPOLOGY), "x", "small")
    gateways = [h.name for h in fresh.by_role("gateway")]
    names = [gateways[0]] if names == ["gw-phuong-5"] else names
    with pytest.raises(ProvdcError) as exc:
        make_vms(fresh, names)
    assert words in str(exc.value) and "--vm" in str(exc.value) and "Fix:" in str(exc.value)


def test_the_cli_refuses_a_bad_vm_list_before_anything_is_created():
    result = CliRunner().invoke(app, ["lab", "up", "--topology", str(TOPOLOGY), "--name",
                                      "vmcheck", "--vm", "nowhere-9"])
    assert result.exit_code == 2, result.output
    assert "nowhere-9" in result.output and isinstance(result.exception, SystemExit | None)


@pytest.mark.skipif(shutil.which("mkfs.ext4") is None or shutil.which("debugfs") is None,
                    reason="needs e2fsprogs")
def test_the_identity_disk_holds_the_files_with_their_modes(tmp_path):
    """Read back with debugfs (e2fsprogs' own reader), not with the code that wrote it."""
    files = {"etc/hostname": ("lgsp-1\n", 0o644), "root/.ssh/authorized_keys": ("ssh-ed25519 AAA\n",
                                                                              0o600)}
    vm.write_identity(files, tmp_path / "id", tmp_path / "id.img")
    def stat(path: str) -> str:
        return subprocess.run(["debugfs", "-R", f"stat {path}", str(tmp_path / "id.img")],
                              capture_output=True, text=True).stdout
    assert "Mode:  0600" in stat("/files/root/.ssh/authorized_keys")
    assert "Mode:  0700" in stat("/files/root/.ssh") and "Mode:  0700" in stat("/files/root")
    assert "Mode:  0755" in stat("/files/etc")
    cat = subprocess.run(["debugfs", "-R", "cat /files/etc/hostname", str(tmp_path / "id.img")],
                         capture_output=True, text=True).stdout
    assert cat == "lgsp-1\n"


def test_qemu_runs_the_image_kernel_on_the_hosts_tap_with_its_mac(tmp_path):
    img = vm.VmImage("k", tmp_path)
    cmd = vm.qemu_command(img, "tcg", tmp_path / "h", "lab1", "lgsp-1", "ab" * 16,
                          "02:11:22:33:44:55")
    line = " ".join(cmd)
    assert f"-kernel {tmp_path}/vmlinuz" in line and f"-initrd {tmp_path}/initrd.img" in line
    assert "tcg,tb-size=256" in line and "-accel kvm" not in line
    assert f"ifname={vm.TAP},script=no" in line and "mac=02:11:22:33:44:55" in line
    assert "systemd.hostname=lgsp-1" in line and f"systemd.machine_id={'ab' * 16}" in line
    assert vm.qemu_name("lab1", "lgsp-1") in cmd


def test_modprobe_lines_of_a_modules_dependencies_do_not_decide():
    """`modprobe -n -v` on the VM's kernel (its modules installed, unlike a container's):
    the dependencies' insmod lines come first; the module's own line decides."""
    from provdc.controls.kinds.kernel_module_disabled import _first_lines

    seen_on_the_vm = (
        "@@mod udf\n"
        "insmod /lib/modules/6.1.0-57-cloud-amd64/kernel/drivers/cdrom/cdrom.ko \n"
        "install /bin/false\n"
        "@@mod tipc\n"
        "insmod /lib/modules/6.1.0-57-cloud-amd64/kernel/net/ipv4/udp_tunnel.ko \n"
        "insmod /lib/modules/6.1.0-57-cloud-amd64/kernel/net/ipv6/ip6_udp_tunnel.ko \n"
        "install /bin/false\n"
        "@@mod cramfs\n"
        "insmod /lib/modules/6.1.0-57-cloud-amd64/kernel/fs/cramfs/cramfs.ko \n"
    )
    assert _first_lines(seen_on_the_vm) == {
        "udf": "install /bin/false", "tipc": "install /bin/false",
        "cramfs": "insmod /lib/modules/6.1.0-57-cloud-amd64/kernel/fs/cramfs/cramfs.ko"}
