"""Disk-restore deployment templates: an ARM template (and parameters file) that builds a VM from the disks a
"restore disks" job left, readable and checkable before anything is deployed.

:func:`~restorekit.template.build.build_template` reads the recovery point (:mod:`.source`), carries the plan's
template findings into parameters (:mod:`.findings`), adds disks (:mod:`.disks`), NICs (:mod:`.network`) and the
VM (:mod:`.vm`), and runs the offline checks (:mod:`.checks`); :mod:`.output` writes the two files.
"""
