"""The text view of ``inspect``: each disk (format, chain) as a tree of partitions, containers and volumes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from restorekit.cli.common import human_size

if TYPE_CHECKING:
    from restorekit.disks import OpenedDisk
    from restorekit.fs.scan import VolumeInfo


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
    if info.layout:
        disks = ", ".join(f"{d['name']} ({d['volume'] or 'missing'})" for d in info.layout.get("disks", []))
        parts.append(f"{info.layout['type']}{f' over {disks}' if disks else ''}")
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


def render_tree(volumes: list[VolumeInfo], disks: list[OpenedDisk]) -> str:
    """disk → partition → container → volume, with sizes and warnings, as a person reads it at a glance."""
    lines: list[str] = []
    children: dict[str | None, list[VolumeInfo]] = {}
    for info in volumes:
        children.setdefault(info.parent, []).append(info)

    def walk(info: VolumeInfo, prefix: str, last: bool) -> None:
        lines.append(f"{prefix}{'└── ' if last else '├── '}{describe(info)}")
        inner = prefix + ("    " if last else "│   ")
        kids = children.get(info.id, [])
        below = len(kids) + len(info.shadow_copies)
        for warning in info.warnings:
            lines.append(f"{inner}{'│ ' if below else '  '}! {warning}")
        for i, copy in enumerate(info.shadow_copies):
            lines.append(f"{inner}{'└── ' if i == below - 1 else '├── '}{describe_shadow_copy(copy)}")
        for i, kid in enumerate(kids):
            walk(kid, inner, len(info.shadow_copies) + i == below - 1)

    for disk in disks:
        lines.append(describe_disk(disk))
        role = "segment" if disk.image and disk.image.format == "raw-split" else "parent"
        for parent in (disk.image.chain[1:] if disk.image else []):
            lines.append(f"    {role} {parent}")
        for warning in disk.to_dict()["warnings"]:
            lines.append(f"  ! {warning}")
        if disk.error is not None:
            lines.append(f"  ! unreadable: {disk.error}")
        top = [v for v in children.get(None, []) if v.disk == disk.ref.id]
        for i, info in enumerate(top):
            walk(info, "", i == len(top) - 1)
    return "\n".join(lines)


def describe_shadow_copy(copy: dict[str, Any]) -> str:
    """One line: a shadow copy's id, creation time, store and whether Windows lists it."""
    created = copy["created"][:19].replace("T", " ")
    hidden = f"  not listed by Windows ({copy['hiddenReason']})" if not copy["listed"] else ""
    area = copy["diffAreaVolume"]
    elsewhere = "" if copy["id"].startswith(f"{area}@vss") else f"  diff area on {area}"
    return f"{copy['id']}  shadow copy of {created} UTC  store {{{copy['storeId']}}}{elsewhere}{hidden}"


def describe_disk(disk: OpenedDisk) -> str:
    """One line: the disk's id, format, size, allocation and image."""
    image = disk.image
    if image is None:
        return f"{disk.ref.id}  unreadable  {disk.ref.shown}"
    allocated = f" ({human_size(image.allocated_bytes)} allocated)" if image.format != "raw" else ""
    return f"{disk.ref.id}  {image.format}  {human_size(image.size)}{allocated}  {image.path}"
