"""Azure's own file recovery (item-level restore, the iSCSI script): R86-R104."""

from __future__ import annotations

from typing import TYPE_CHECKING

from restorekit.evidence import ids
from restorekit.rules.base import ILR, SCAN_HOW, NeedInput, never, rule
from restorekit.rules.checks import TB_GB, ade, disk_sizes_gb, evidence_of, security
from restorekit.rules.clientos import (
    OsId,
    from_evidence,
    from_os_release,
    is_sles_12_sp4,
    linux_client_ok,
    parse_os_text,
    windows_client_ok,
)

if TYPE_CHECKING:
    from restorekit.rules.base import Ctx

GB = 1 << 30
SAME_VM = "Run the script on another machine with a compatible OS (restorekit reads these layouts itself)."
CLIENT_HOW = "pass --client-os 'Windows 10' (or 'Ubuntu 22.04'), or --client-os-release FILE (its /etc/os-release)"


def client_os(c: Ctx) -> OsId:
    """The machine that will receive the files."""
    if c.request.client_os_release is not None:
        return from_os_release(c.request.client_os_release)
    if c.request.client_os:
        parsed = parse_os_text(c.request.client_os)
        if parsed is not None:
            return parsed
        raise NeedInput(f"client OS {c.request.client_os!r} (not recognised)", CLIENT_HOW)
    raise NeedInput("the machine that will receive the files", CLIENT_HOW)


def source_os(c: Ctx) -> OsId | None:
    """The backed-up VM's OS: the scan's evidence, else ``facts.osName``; None when only the family is known."""
    for volume in c.evidence.os_volumes():
        found = from_evidence(volume["os"])
        if found is not None:
            return found
    name = c.model.facts.get("osName")
    return parse_os_text(str(name)) if name else None


def _windows_incompatible(c: Ctx) -> str | bool:
    family = c.evidence.os_family() or c.need("os_type").lower()
    if family != "windows":
        return False
    server = source_os(c)
    if server is None or not server.version:
        where = ("unlock the OS volume (--bek, --recovery-password, --password) so its SOFTWARE hive is read"
                 if c.evidence.scanned else SCAN_HOW)
        raise NeedInput("Windows version of the backed-up VM", where + ", or --fact 'osName=Windows Server 2019'")
    client = client_os(c)
    return False if windows_client_ok(server, client) else f"backed-up VM: {server}, client: {client}"


def _linux_client(c: Ctx) -> str | bool:
    family = c.evidence.os_family() or c.need("os_type").lower()
    if family != "linux":
        return False
    client = client_os(c)
    if client.family != "linux":
        return f"client {client} cannot run the Linux script"
    return False if linux_client_ok(client) else f"client {client} is not in the supported list"


def _sles_12_sp4(c: Ctx) -> str | bool:
    try:
        client = client_os(c)
    except NeedInput:
        if (c.evidence.os_family() or str(c.model.os_type or "").lower()) == "windows":
            return False
        raise
    return is_sles_12_sp4(client) and f"client: {client}"


def _unsupported_disks(c: Ctx) -> str | bool:
    seen = []
    if c.model.write_accelerator:
        seen.append("write accelerator")
    if c.model.shared_disks:
        seen.append("shared disk")
    if c.evidence.dedup():
        seen.append(f"deduplicated {ids(c.evidence.dedup())}")
    if seen:
        return ", ".join(seen)
    if not c.evidence.scanned and (c.evidence.os_family() or str(c.model.os_type or "").lower()) != "linux":
        c.scanned()
    c.need("write_accelerator")
    return False


def _big(c: Ctx) -> str | bool:
    count = c.need("disk_count")
    large = [f"{d}: {gb} GB" for d, gb in sorted(disk_sizes_gb(c).items()) if gb > 4 * TB_GB]
    seen = ([f"{count} disks"] if count > 16 else []) + large
    return ", ".join(seen) if seen else False


def _third_party(c: Ctx) -> str | bool:
    c.scanned()
    found = c.evidence.third_party_encrypted()
    return f"disks show {ids(found)}" if found else False


def _dedup_client(c: Ctx) -> str | bool:
    found = c.evidence.dedup()
    if not found:
        c.scanned()
        return False
    has = c.fact("clientHasDedup", "whether the receiving machine has Data Deduplication",
                 "`Get-WindowsFeature FS-Data-Deduplication` on it")
    return False if has else f"{ids(found)} deduplicated; client without dedup"


def _size(c: Ctx) -> str | bool:
    total = sum(disk_sizes_gb(c).values()) if (c.evidence.disk_sizes or c.model.disk_sizes_gb) else None
    if total is not None and total <= 10:
        return False
    used = c.evidence.used_bytes()
    if used is not None and used <= 10 * GB:
        return False  # a recovery copies at most what the volumes hold
    held = f" (the volumes hold {used / GB:.1f} GB)" if used is not None else ""
    size = c.fact("recoverySizeGB", "how much you will copy", "the size of the folders you need" + held)
    return f"{size} GB to copy" if float(size) > 10 else False


def _raw(c: Ctx) -> str | bool:
    c.scanned()
    found = c.evidence.raw_disks()
    return f"{ids(found)}: file system on the whole disk" if found else False


def _live(key: str, what: str, command: str, fires_when: bool, seen: str):  # type: ignore[no-untyped-def]
    return lambda c: c.fact(key, what, command) is fires_when and seen


RULES = [
    rule("R86", ILR, "block", "ADE-encrypted recovery point",
         "File recovery from an encrypted VM backup isn't supported.", "S3,S9", ade),
    rule("R87", ILR, "block", "classic VM, Trusted Launch or confidential VM",
         "File recovery is not supported for classic VMs, Trusted Launch VMs (2023) and confidential VMs.", "S2",
         lambda c: (c.model.classic and "classic VM") or security(c, "TrustedLaunch", "ConfidentialVM")),
    rule("R88", ILR, "block", "network-restricted storage accounts",
         "Restore files from network-restricted storage accounts: Not supported.", "S2",
         lambda c: not c.need("managed") and c.yes("network_restricted_storage")),
    rule("R89", ILR, "block", "shared / temporary / deduplicated / write-accelerated disks",
         "Restore files from a shared disk, temporary drive, deduplicated disk or a disk with write accelerator: "
         "Not supported (ultra disks: the matrix contradicts itself).", "S2", _unsupported_disks),
    rule("R90", ILR, "block", "Windows Storage Spaces",
         "You can't run the executable on the same VM if it has Windows Storage Spaces (2023 matrix: not supported). "
         + SAME_VM, "S3,S2", lambda c: evidence_of(c, "storage-spaces")),
    rule("R91", ILR, "block", "dynamic disks (spanned / striped / mirrored / RAID-5)",
         "You can't run the executable on the VM with dynamic disks. " + SAME_VM, "S3",
         lambda c: evidence_of(c, "ldm")),
    rule("R92", ILR, "block", "Linux LVM or mdadm RAID",
         "If the protected Linux VM uses LVM and/or RAID Arrays, you can't run the script on the same VM. " + SAME_VM,
         "S3", lambda c: evidence_of(c, "lvm2", "mdraid")),
    rule("R93", ILR, "warn", "more than 16 disks or a disk over 4 TB",
         "Not recommended on the same machine: timeouts; wait 20-30 minutes between runs.", "S3,S17", _big),
    rule("R94", ILR, "block", "client Windows version not the server/client pair of the table",
         "You can't restore files to a previous or future operating system version.", "S3", _windows_incompatible),
    rule("R95", ILR, "warn", "Linux client distribution/version below the table",
         "The machine running the script must support the file system of the protected VM.", "S3", _linux_client),
    rule("R96", ILR, "block", "client is SLES 12 SP4",
         "File recovery script execution isn't supported on SUSE 12 SP4 VMs (iscsi_tcp can't be loaded).", "S4",
         _sles_12_sp4),
    rule("R97", ILR, "block", "no outbound 3260/443/53 from the client, or via a proxy",
         "Proxies may not support iSCSI or give access to port 3260.", "S3",
         _live("clientOutbound3260", "whether the client reaches the recovery service on TCP 3260 without a proxy",
               "`Test-NetConnection -Port 3260` (or `nc -vz`) from the client", False, "no direct outbound 3260"),
         coverage="needs-live-data"),
    rule("R98", ILR, "block", "script older than 12 h or disks unmounted",
         "This script is invalid because the disks have been dismounted via portal/exceeded the 12-hr limit.",
         "S3,S4", never, coverage="not-applicable"),
    rule("R99", ILR, "block", "volume encrypted by a third party",
         "The following partitions failed to mount since the OS couldn't identify the filesystem.", "S4",
         _third_party),
    rule("R100", ILR, "warn", "deduplicated volume, restore host without dedup",
         "0x80070780: The file cannot be accessed by the system.", "S4", _dedup_client),
    rule("R101", ILR, "warn", "recovery larger than 10 GB",
         "File recovery should be used when the total size of recovery is 10 GB or less (about 1 GB per hour).",
         "S3", _size),
    rule("R102", ILR, "warn", "the receiving host is itself backed up and the session is left open",
         "Unmount the disks when done: the next backup may fail with UserErrorUnableToOpenMount.", "S3",
         _live("clientIsBackedUp", "whether the receiving machine is itself protected by Azure Backup",
               "`az backup protection check-vm --vm CLIENT_VM_ID`", True, "client is backed up"),
         coverage="needs-live-data"),
    rule("R103", ILR, "warn", "non-English system locale",
         "The script is generated in English only; the system locale may need to be English.", "S3",
         _live("clientLocaleEnglish", "the receiving machine's system locale", "`Get-WinSystemLocale` / `locale`",
               False, "non-English locale"), coverage="needs-live-data"),
    rule("R104", ILR, "warn", "raw disk without partitions",
         "A disk without a partition table is not auto-mounted: mount it manually.", "S4", _raw),
]
