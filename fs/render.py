"""The text view of a scan: each disk as a tree of partitions, containers and volumes, with sizes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fs.scan import VolumeInfo
    from fs.stream import Stream


def human_size(size: int) -> str:
    """1536 → ``1.5 KiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def describe(info: VolumeInfo) -> str:
    """One line: what the volume is and holds."""
    parts = [info.id, human_size(info.size)]
    if info.partition_type:
        parts.append(f"[{info.partition_type}]")
    if info.encryption:
        details = info.encryption_details
        extra = details.get("cipher") or details.get("method")
        parts.append(f"{info.encryption}{f' {extra}' if extra else ''} ({'locked' if info.locked else 'unlocked'})")
    if info.container:
        parts.append(info.container)
    if info.filesystem:
        label = f' "{info.label}"' if info.label else ""
        used = f", {human_size(info.used)} used" if info.used is not None else ""
        parts.append(f"{info.filesystem}{label}{used}")
    if info.os:
        name = info.os.get("name") or info.os.get("prettyName") or info.os.get("family")
        build = f" build {info.os['build']}" if info.os.get("build") else ""
        parts.append(f"OS: {name}{build}")
        if info.os.get("domainController"):
            parts.append("domain controller")
    if info.dedup:
        parts.append("dedup")
    return "  ".join(parts)


def render_tree(volumes: list[VolumeInfo], disks: list[tuple[str, Stream]]) -> str:
    """disk → partition → container → volume, with sizes and warnings, as a person reads it at a glance."""
    lines: list[str] = []
    children: dict[str | None, list[VolumeInfo]] = {}
    for info in volumes:
        children.setdefault(info.parent, []).append(info)

    def walk(info: VolumeInfo, prefix: str, last: bool) -> None:
        lines.append(f"{prefix}{'└── ' if last else '├── '}{describe(info)}")
        inner = prefix + ("    " if last else "│   ")
        kids = children.get(info.id, [])
        for warning in info.warnings:
            lines.append(f"{inner}{'│ ' if kids else '  '}! {warning}")
        for i, kid in enumerate(kids):
            walk(kid, inner, i == len(kids) - 1)

    for disk_id, disk in disks:
        path = getattr(disk, "path", "")
        lines.append(f"{disk_id}  {human_size(disk.size)}{f'  {path}' if path else ''}")
        top = [v for v in children.get(None, []) if v.disk == disk_id]
        for i, info in enumerate(top):
            walk(info, "", i == len(top) - 1)
    return "\n".join(lines) + "\n"
