#!/bin/sh
# The programs the tests build images with (real tools, at test time): installs the Debian packages that are
# missing, and does nothing when every program is already there. Run by .ci/run and the README's test command.
# (npm installs Azurite, the Azure Storage emulator the remote-reading tests start, into tests/.node on first use.)
set -eu
# program:package pairs
TOOLS="bsdtar:libarchive-tools groff:groff-base mke2fs:e2fsprogs mkntfs:ntfs-3g mkfs.fat:dosfstools mcopy:mtools mkfs.xfs:xfsprogs cryptsetup:cryptsetup-bin
vgcfgrestore:lvm2 mdadm:mdadm qemu-img:qemu-utils fls:sleuthkit faketime:faketime setfattr:attr xfs_db:xfsprogs
npm:npm thin_restore:thin-provisioning-tools fusermount3:fuse3 hivexregedit:libwin-hivex-perl sfdisk:fdisk"
missing=""
for pair in $TOOLS; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "${pair%%:*}" >/dev/null 2>&1 \
        || missing="$missing ${pair#*:}"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    apt_get="apt-get"
elif command -v sudo >/dev/null 2>&1; then
    apt_get="sudo apt-get"
else
    echo "tests/install-tools.sh: missing Debian packages:$missing (install them as root)" >&2
    exit 1
fi
echo "Installing the test tools' Debian packages:$missing" >&2
$apt_get update -qq
DEBIAN_FRONTEND=noninteractive $apt_get install -y -qq --no-install-recommends $missing >/dev/null
