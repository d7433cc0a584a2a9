# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The cached guest trees: a debootstrap base and one chroot per initramfs flavour, kept in
# CACHE_DIR (outside the clone) under keys derived from their package lists, so a second run only
# copies them. See tests/e2e/README.md, "What a run does" (cache) and "Design notes".

# Packages of the base tree (debootstrap --include).
BASE_INCLUDE=systemd,systemd-sysv,cryptsetup,kmod,udev,iproute2,curl,ca-certificates,linux-base,e2fsprogs,busybox,isc-dhcp-client,iputils-arping,procps

# Runtime libraries of fde-agent, fdectl and the token plugin (the binaries are built on the
# Debian 12 host and link these exact sonames).
CCFDE_RUNTIME_PKGS="libcryptsetup12 libcurl4 libssl3 libsystemd0 libblkid1 libfmt9 libstdc++6"

# Per-flavour packages, installed together with the cloud kernel in one apt call so that the
# kernel's linux-initramfs-tool dependency is satisfied by that flavour's generator.
KERNEL_PKG=linux-image-cloud-amd64
# shellcheck disable=SC2034  # read through ${!name}
# (libfuse3-3: the test-only configfs-tsm emulation, TDX in the dracut guest's initramfs and
# SEV-SNP in the SNP boots of both flavours.)
FLAVOUR_PKGS_dracut="dracut dracut-core dracut-network dbus libfuse3-3"
# shellcheck disable=SC2034
FLAVOUR_PKGS_initramfs_tools="initramfs-tools cryptsetup-initramfs klibc-utils zstd libfuse3-3"

# Bump when the way the trees are built changes, to invalidate old caches.
CACHE_FORMAT=1

# base_tree: prints the path of the cached debootstrap base, building it when absent.
base_tree() {
  local mirror key dir
  mirror=$(mirror_uri "$SUITE")
  key=$(key_of "$CACHE_FORMAT" "$SUITE" "$mirror" "$BASE_INCLUDE")
  dir=$CACHE_DIR/base-$key
  if [ ! -f "$dir/.complete" ]; then
    log "debootstrap $SUITE from $mirror into $dir (cold cache)"
    remove_tree "$dir.tmp"
    mkdir -p "$CACHE_DIR"
    debootstrap --variant=minbase --include="$BASE_INCLUDE" "$SUITE" "$dir.tmp" "$mirror" \
      >"$CACHE_DIR/debootstrap-$key.log" 2>&1 ||
      die "debootstrap failed (see $CACHE_DIR/debootstrap-$key.log)"
    remove_tree "$dir"
    mv "$dir.tmp" "$dir"
    touch "$dir/.complete"
  fi
  printf '%s\n' "$dir"
}

# flavour_tree FLAVOUR: prints the path of the cached chroot of FLAVOUR (dracut or
# initramfs-tools), building it from the base when absent. The tree holds the flavour's
# generator, the cloud kernel and cc-fde's runtime libraries, not cc-fde itself.
flavour_tree() {
  local flavour=$1 base pkgs_var pkgs key dir security
  base=$(base_tree)
  pkgs_var=FLAVOUR_PKGS_${flavour//-/_}
  pkgs="${!pkgs_var:?unknown flavour $flavour} $CCFDE_RUNTIME_PKGS $KERNEL_PKG"
  key=$(key_of "$CACHE_FORMAT" "$(basename "$base")" "$pkgs")
  dir=$CACHE_DIR/$flavour-$key
  if [ ! -f "$dir/.complete" ]; then
    log "building the $flavour chroot in $dir (cold cache)"
    remove_tree "$dir.tmp"
    cp -a "$base" "$dir.tmp"
    rm -f "$dir.tmp/.complete"
    printf '#!/bin/sh\nexit 101\n' >"$dir.tmp/usr/sbin/policy-rc.d"
    chmod 755 "$dir.tmp/usr/sbin/policy-rc.d"
    security=$(mirror_uri "$SUITE-security")
    printf 'deb %s %s main\ndeb %s %s-security main\ndeb %s %s-updates main\n' \
      "$(mirror_uri "$SUITE")" "$SUITE" "$security" "$SUITE" "$(mirror_uri "$SUITE")" "$SUITE" \
      >"$dir.tmp/etc/apt/sources.list"
    chroot_mount "$dir.tmp"
    # shellcheck disable=SC2086  # $pkgs is a word list
    if ! { in_chroot "$dir.tmp" apt-get update -q &&
      in_chroot "$dir.tmp" apt-get install -y -q --no-install-recommends $pkgs &&
      in_chroot "$dir.tmp" apt-get clean; } >"$CACHE_DIR/$flavour-$key.log" 2>&1; then
      chroot_umount "$dir.tmp"
      die "building the $flavour chroot failed (see $CACHE_DIR/$flavour-$key.log)"
    fi
    chroot_umount "$dir.tmp"
    remove_tree "$dir"
    mv "$dir.tmp" "$dir"
    touch "$dir/.complete"
  fi
  printf '%s\n' "$dir"
}

# kernel_version ROOT: the version of the (single) kernel installed in ROOT.
kernel_version() {
  local root=$1 v
  v=$(find "$root/lib/modules" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n1)
  [ -n "$v" ] || die "no kernel in $root"
  printf '%s\n' "$v"
}
