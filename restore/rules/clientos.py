"""Which machine may receive the files of Azure's file recovery: the OS compatibility tables of S3/S4."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Windows Server version of the backed-up VM → client versions the script runs on (besides the same server).
WINDOWS_COMPATIBLE = {
    "2022": ("11", "10"),
    "2019": ("10",),
    "2016": ("10",),
    "2012 R2": ("8.1",),
    "2012": ("8",),
    "2008 R2": ("7",),
}
#: Windows Server build number → version.
SERVER_BUILDS = {"20348": "2022", "17763": "2019", "14393": "2016", "9600": "2012 R2", "9200": "2012",
                 "7601": "2008 R2", "7600": "2008 R2"}
#: Linux distributions (os-release ID) and the lowest version the file-recovery script supports.
LINUX_MINIMUM = {"ubuntu": "12.04", "centos": "6.5", "rhel": "6.7", "debian": "7", "ol": "6.4", "sles": "12",
                 "opensuse": "42.2", "opensuse-leap": "42.2"}
_ALIASES = {"red hat": "rhel", "redhat": "rhel", "oracle": "ol", "oracle linux": "ol", "suse": "sles",
            "sles": "sles", "opensuse": "opensuse", "ubuntu": "ubuntu", "centos": "centos", "debian": "debian",
            "rhel": "rhel"}


@dataclass(frozen=True)
class OsId:
    """An operating system as the tables see it."""

    family: str  # "windows" | "linux"
    name: str  # "server" / "client" for Windows, the os-release ID for Linux
    version: str  # "2019", "10", "22.04", "12.4"

    def __str__(self) -> str:
        if self.family == "windows":
            return f"Windows {'Server ' if self.name == 'server' else ''}{self.version}"
        return f"{self.name} {self.version}"


def parse_os_text(text: str) -> OsId | None:
    """``Windows 10``, ``Windows Server 2019``, ``Ubuntu 22.04``, ``SLES 12 SP4``, ``rhel 8.6`` → :class:`OsId`."""
    low = text.strip().lower()
    server = re.search(r"windows server (20\d\d(?: r2)?)", low)
    if server:
        return OsId("windows", "server", server.group(1).replace("r2", "R2"))
    client = re.search(r"windows (11|10|8\.1|8|7)\b", low)
    if client:
        return OsId("windows", "client", client.group(1))
    for alias in sorted(_ALIASES, key=len, reverse=True):
        if low.startswith(alias):
            rest = low[len(alias):]
            version = re.search(r"(\d+(?:\.\d+)?)(?:\s*sp(\d+))?", rest)
            if not version:
                return OsId("linux", _ALIASES[alias], "")
            number = version.group(1) + (f".{version.group(2)}" if version.group(2) else "")
            return OsId("linux", _ALIASES[alias], number)
    return None


def from_os_release(fields: dict[str, str]) -> OsId:
    """The client from its ``/etc/os-release``."""
    return OsId("linux", fields.get("ID", "").lower(), fields.get("VERSION_ID", ""))


def from_evidence(os_doc: dict[str, object]) -> OsId | None:
    """The backed-up VM's OS from the scan's ``os`` evidence."""
    if os_doc.get("family") == "windows":
        build = str(os_doc.get("build") or "")
        name = str(os_doc.get("name") or "")
        if os_doc.get("server") or "server" in name.lower():
            parsed = parse_os_text(name)
            version = SERVER_BUILDS.get(build) or (parsed.version if parsed else "")
            return OsId("windows", "server", version) if version else None
        return parse_os_text(name)
    if os_doc.get("family") == "linux":
        return OsId("linux", str(os_doc.get("id") or "").lower(), str(os_doc.get("version") or ""))
    return None


def version_tuple(text: str) -> tuple[int, ...]:
    """``12.04`` → (12, 4)."""
    return tuple(int(p) for p in re.findall(r"\d+", text))


def windows_client_ok(server: OsId, client: OsId) -> bool:
    """R94: same server version, or a compatible client."""
    if client.family != "windows":
        return False
    if client.name == "server":
        return client.version == server.version
    return client.version in WINDOWS_COMPATIBLE.get(server.version, ())


def linux_client_ok(client: OsId) -> bool:
    """R95: the distribution is in the table at or above its minimum version."""
    minimum = LINUX_MINIMUM.get(client.name)
    if minimum is None or not client.version:
        return False
    return version_tuple(client.version) >= version_tuple(minimum)


def is_sles_12_sp4(client: OsId) -> bool:
    """R96: SUSE 12 SP4 removed iscsi_tcp."""
    return client.family == "linux" and client.name.startswith("sles") and version_tuple(client.version) == (12, 4)
