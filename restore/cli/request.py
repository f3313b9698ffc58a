"""The request flags of ``plan`` and ``template``, named as ``az backup restore restore-disks`` names them, and
their conversion into a :class:`~restorekit.request.RestoreRequest`."""

from __future__ import annotations

from typing import Any

import click

from restorekit import schema
from restorekit.cli.common import UNLOCK_OPTIONS, keys_from_options
from restorekit.request import RestoreRequest, load_az_json, load_os_release, parse_luns
from restorekit.targetvm import check_target_vm


def _file(flag: str, command: str) -> Any:
    return click.option(flag, type=click.Path(dir_okay=False), metavar="FILE",
                        help=f"JSON printed by `{command}`.")


REQUEST_OPTIONS = [
    click.option("--target-resource-group", help="Resource group for managed disks / the new VM."),
    click.option("--target-vm-name", help="Name of the VM to create."),
    click.option("--target-vnet-name", help="VNet of the VM to create."),
    click.option("--target-vnet-resource-group", help="Resource group of that VNet."),
    click.option("--target-subnet-name", help="Subnet of the VM to create."),
    click.option("--target-subscription-id", help="Restore into this subscription (cross-subscription restore)."),
    click.option("--target-zone", help="Availability zone to restore into (cross-zone restore)."),
    click.option("--use-secondary-region", is_flag=True, help="Restore in the paired region (cross-region restore)."),
    _file("--storage-account", "az storage account show -o json"),
    click.option("--diskslist", multiple=True, metavar="LUN", help="Data-disk LUNs to restore (repeat or a,b)."),
    click.option("--restore-only-osdisk", is_flag=True, help="Restore the OS disk only."),
    click.option("--restore-as-unmanaged-disks", is_flag=True, help="Restore page blobs, not managed disks."),
    click.option("--restore-to-staging-storage-account", is_flag=True,
                 help="Unmanaged VM: restore into --storage-account, not the original accounts."),
    click.option("--disk-encryption-set-id", help="Disk encryption set for the restored disks."),
    click.option("--mi-system-assigned", is_flag=True, help="Restore as the vault's system-assigned identity."),
    click.option("--mi-user-assigned", metavar="ID", help="Restore as this user-assigned identity of the vault."),
    click.option("--rehydration-priority", type=click.Choice(["Standard", "High"]), help="Archive-tier points."),
    click.option("--disk-access-option", help="EnablePrivateAccessForAllDisks | EnablePublicAccessForAllDisks | "
                                              "SameAsOnSourceDisks."),
    click.option("--restore-to-edge-zone", is_flag=True, help="Restore into the VM's edge zone."),
    _file("--target-vm", "az vm show -d -o json"),
    click.option("--client-os", metavar="TEXT",
                 help="OS of the machine receiving files: 'Windows 10', 'Ubuntu 22.04'."),
    click.option("--client-os-release", type=click.Path(dir_okay=False), metavar="FILE",
                 help="That machine's /etc/os-release."),
    *UNLOCK_OPTIONS,
    click.option("--no-scan", is_flag=True, help="Plan from the JSON only; do not read the disk images."),
]


def request_options(fn: Any) -> Any:
    """Every request flag, in the order ``--help`` lists them."""
    for opt in reversed(REQUEST_OPTIONS):
        fn = opt(fn)
    return fn


def request_from_flags(flags: dict[str, Any]) -> RestoreRequest:
    """Turn the click parameters into a :class:`RestoreRequest`, reading the JSON and os-release files."""
    storage = flags.pop("storage_account")
    target_vm = flags.pop("target_vm")
    release = flags.pop("client_os_release")
    luns = flags.pop("diskslist")
    keys = keys_from_options(*(flags.pop(name) for name in ("passwords", "password_files", "recovery_passwords",
                                                             "bek_files", "keychains", "ask_password")))
    keys.force_assemble = flags.pop("force_assemble")
    return RestoreRequest(
        storage_account=load_az_json(storage, "--storage-account", "az storage account show -n ACCOUNT -o json",
                                     schema.STORAGE_ACCOUNT) if storage else None,
        target_vm=check_target_vm(load_az_json(target_vm, "--target-vm", "az vm show -d -g RG -n VM -o json",
                                               schema.VM, vm=True), target_vm) if target_vm else None,
        client_os_release=load_os_release(release) if release else None,
        diskslist=parse_luns(luns),
        keys=keys,
        **flags,
    )
