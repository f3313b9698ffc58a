"""What restorekit itself can recover for the ``files`` option, beside Azure's own verdict.

Azure's file recovery attaches the disks to a running machine, so LVM on the same VM, Storage Spaces, dynamic
disks or ADE stop it. restorekit reads the images directly: it assembles LVM/mdraid/Storage Spaces/LDM and
unlocks BitLocker and LUKS with the user's keys, so the answer here is often "yes, with this key".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from restorekit.evidence import missing_disks
from restorekit.fs.scan import NO_FILESYSTEM_KINDS

if TYPE_CHECKING:
    from restorekit.evidence import Evidence

KEY_FLAGS = {"bitlocker": "--bek FILE (the ADE BEK from Key Vault), --recovery-password or --password",
             "luks": "--password (the LUKS passphrase; for ADE on Linux the BEK secret)"}


def self_recovery(evidence: Evidence) -> dict[str, Any]:
    """``{"canRecover", "readableVolumes", "shadowCopies", "needs", "note"}`` for the ``files`` option.

    ``shadowCopies`` are the ids (``VOLUME@vssN``) of the earlier points in time restorekit can read files from too
    (None when the images were not scanned).
    """
    if not evidence.scanned:
        return {"canRecover": None, "readableVolumes": [], "shadowCopies": None,
                "needs": ["the disk images (plan without --no-scan)"],
                "note": "the images were not scanned, so restorekit cannot tell what it can read"}
    readable = [v["id"] for v in evidence.recoverable()]
    needs: list[str] = []
    notes: list[str] = []
    for volume in evidence.volumes:
        if not volume.get("locked"):
            continue
        kind = str(volume.get("encryption") or "")
        flags = next((text for prefix, text in KEY_FLAGS.items() if kind.startswith(prefix)), None)
        tried = " (the keys given did not fit)" if volume.get("keysFailed") else ""
        needs.append(f"{volume['id']} ({kind}): {flags or 'a key restorekit cannot use'}{tried}")
    pools = sorted({str(v["container"]) for v in evidence.volumes if v.get("container")})
    if pools:
        notes.append(f"restorekit assembles {', '.join(pools)} itself: no second machine needed")
    unlocked = [v["id"] for v in evidence.encrypted() if not v.get("locked")]
    if unlocked:
        notes.append(f"unlocked with the keys given: {', '.join(unlocked)}")
    dedup = [v["id"] for v in evidence.dedup()]
    if dedup:
        notes.append(f"{', '.join(dedup)} use Data Deduplication: optimised files live in the chunk store and "
                     "restorekit copies them only as reparse points")
    no_files = [f"{v['id']} ({v['filesystem']})" for v in evidence.readable() if not v.get("fileAccess")]
    if no_files:
        notes.append(f"restorekit recognises but cannot list the files of {', '.join(no_files)} (damaged, "
                     "truncated or not supported yet; the volume's warnings in restorekit inspect say which): copy "
                     "the disk with restorekit dd and read that volume with another tool")
    degraded = [v for v in evidence.readable() if missing_disks(v)]
    if degraded:
        notes.append("read without a disk, from the redundancy left: " + ", ".join(
            f"{v['id']} ({v['layout']['type']}: missing {', '.join(missing_disks(v))})" for v in degraded))
    incomplete = evidence.incomplete()
    if incomplete:
        notes.append("cannot assemble " + ", ".join(f"{v['id']} ({v['layout']['type']}: missing "
                                                     f"{', '.join(missing_disks(v))})" for v in incomplete)
                     + ": add the disks that hold them")
    unreadable = [v["id"] for v in evidence.volumes if not v.get("locked") and not v.get("filesystem")
                  and not v.get("container") and v.get("partitionKind") not in NO_FILESYSTEM_KINDS
                  and v not in incomplete]
    if unreadable:
        notes.append(f"no file system read on {', '.join(unreadable)}")
    if evidence.disk_errors:
        notes.append("disks that did not open: " + "; ".join(f"{d}: {e}" for d, e in evidence.disk_errors.items()))
    if needs:
        notes.insert(0, f"{len(needs)} locked volume(s): pass the key named under needs to read them")
    if not readable and not needs:
        notes.append("no readable file system found")
    if not notes:
        notes.append("every volume is readable: restorekit can copy files offline")
    copies = evidence.shadow_copies()
    if copies:
        notes.append(_shadow_note(copies))
    return {"canRecover": bool(readable), "readableVolumes": readable, "shadowCopies": [c["id"] for c in copies],
            "needs": needs, "note": "; ".join(notes)}


def _shadow_note(copies: list[dict[str, Any]]) -> str:
    """Earlier versions of the files: the shadow copies, their time span, and those Windows would not show."""
    first, last = str(copies[0].get("created") or "?")[:10], str(copies[-1].get("created") or "?")[:10]
    span = first if first == last else f"{first} to {last}"
    hidden = sum(1 for c in copies if c.get("listed") is False)
    unlisted = f", {hidden} of them not listed by Windows" if hidden else ""
    return (f"earlier versions too: {len(copies)} shadow copies ({span}{unlisted}) of "
            f"{', '.join(dict.fromkeys(c['volume'] for c in copies))}; restorekit reads their files as "
            f"VOLUME@vssN:/path ({copies[0]['id']} is the oldest)")
