# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The guest root of one run: a copy of the cached flavour chroot with cc-fde installed by the
# project's install rules, the agent configuration and CA, the test's marker unit, and an
# initramfs generated inside the root by the flavour's own generator.

# image_config OUT [ADMIN_TOKEN_PATH [EVIDENCE]]: writes the agent configuration the guest uses
# (devkbs at 10.0.2.100:8443 with the test CA). EVIDENCE is sample (default), tdx (the
# configfs-tsm emulation rooted at /run/tdx-emu, see image_add_tdx_emu) or snp (its SEV-SNP mode
# rooted at /run/snp-emu, see image_add_snp_emu_dracut). With ADMIN_TOKEN_PATH the profile also
# names the admin token (the provisioning VM's variant; never the booted guest's).
image_config() {
  local out=$1 token=${2:-} evidence='{"tee": "sample"}' admin="" phase_event=false
  [ -n "$token" ] && admin=",
      \"admin_token_file\": \"$token\""
  [ "${3:-sample}" = tdx ] && evidence='{"tee": "tdx", "platform_root": "/run/tdx-emu"}'
  [ "${3:-sample}" = snp ] && evidence='{"tee": "snp", "platform_root": "/run/snp-emu"}'
  # `sample` and SEV-SNP evidence have no RTMR3, so the end of the unlock phase cannot be
  # recorded: those guests opt out explicitly, as an operator would have to
  # (docs/ARCHITECTURE.md). The TDX emulation extends RTMR3 through the kernel interface, so the
  # dracut guest keeps the default.
  [ "${3:-sample}" = tdx ] && phase_event=true
  cat >"$out" <<JSON
{
  "version": 1,
  "profiles": {
    "default": {
      "protocol": "trustee",
      "url": "https://10.0.2.100:8443",
      "ca_file": "/etc/cc-fde/kbs-ca.pem", "resources": ["default/*"],
      "connect_timeout_s": 5,
      "request_timeout_s": 20$admin
    }
  },
  "evidence": $evidence,
  "unlock": {
    "volume_timeout_s": ${E2E_VOLUME_TIMEOUT:-60},
    "overall_timeout_s": ${E2E_OVERALL_TIMEOUT:-90},
    "failure_action": "fail",
    "require_phase_event": $phase_event,
    "allowed_integrity": ["none", "hmac(sha256)"]
  },
  "kernel_command_line": {"allow": ["timeout", "volume-timeout", "debug", "failure"]}
}
JSON
}

# image_install_ccfde ROOT FLAVOUR: installs cc-fde into ROOT. With PACKAGES_DIR (run.sh
# --packages) the Debian packages are installed by apt inside ROOT (cc-fde and the FLAVOUR's
# integration, cc-fde-dracut or cc-fde-initramfs-tools), so the packaged path is the tested path;
# otherwise the project's install rules (cmake --install --prefix /usr, DESTDIR=ROOT).
image_install_ccfde() {
  local root=$1 flavour=$2
  if [ -n "$PACKAGES_DIR" ]; then
    image_install_packages "$root" "$flavour"
  else
    DESTDIR=$root cmake --install "$BUILD_DIR" --prefix /usr >"$WORKDIR/install.log" 2>&1 ||
      die "cmake --install failed (see $WORKDIR/install.log)"
  fi
  [ -x "$root/usr/sbin/fde-agent" ] || die "the installation put no fde-agent in /usr/sbin"
  image_require_libraries "$root" /usr/sbin/fde-agent /usr/sbin/fdectl
}

# initramfs_listing ROOT IMAGE OUT: the sorted file names in IMAGE (a path inside ROOT), as the
# flavour's own lister prints them (lsinitrd or lsinitramfs, run inside ROOT).
initramfs_listing() {
  local root=$1 image=$2 out=$3
  if [ -x "$root/usr/bin/lsinitrd" ]; then
    # ls -l lines: the name follows the time (or year) column.
    in_chroot "$root" lsinitrd "$image" 2>&1 | grep -E '^[-dlcbps][-rwxsStT]{9}' |
      sed -E 's/^.* [A-Z][a-z]{2} +[0-9]+ +([0-9]{2}:[0-9]{2}|[0-9]{4}) //' | sort >"$out"
  else
    in_chroot "$root" lsinitramfs "$image" 2>&1 | sort >"$out"
  fi
  [ -s "$out" ] || die "cannot list $image in $root"
}

# image_install_packages ROOT FLAVOUR: `apt-get install ./*.deb` of cc-fde and FLAVOUR's
# integration inside ROOT, before any cc-fde configuration exists, as on a machine that already
# boots. The packages' update-initramfs trigger must regenerate ROOT's initramfs, and nothing of
# cc-fde may be in it (but initramfs-tools' inert boot scripts): installing the packages changes
# nothing at boot until the operator writes a configuration and enrolls a volume.
image_install_packages() {
  local root=$1 flavour=$2 integration deb image listing=$WORKDIR/inert-$2.list stamp
  case $flavour in
    dracut) integration=cc-fde-dracut ;;
    initramfs-tools) integration=cc-fde-initramfs-tools ;;
    *) die "image_install_packages: unknown flavour $flavour" ;;
  esac
  [ ! -e "$root/etc/cc-fde" ] || die "$root already has /etc/cc-fde before the installation"
  image=$(find "$root/boot" -maxdepth 1 -name 'initrd.img-*' -printf '/boot/%f\n' | sort -V | tail -n1)
  [ -n "$image" ] || die "the $flavour tree has no /boot/initrd.img-* to check after the installation"
  stamp=$(stat -c %Y "$root$image")
  touch -d @$((stamp - 10)) "$root$image"
  stamp=$(stat -c %Y "$root$image")
  mkdir -p "$root/tmp/cc-fde-debs"
  for deb in cc-fde "$integration"; do
    deb=$(package_file "$deb") || exit 1
    cp "$deb" "$root/tmp/cc-fde-debs/"
  done
  chroot_mount "$root"
  # shellcheck disable=SC2016  # expanded by the chroot's shell
  if ! in_chroot "$root" sh -c 'apt-get install -y -q --no-install-recommends /tmp/cc-fde-debs/*.deb' \
    >"$WORKDIR/install-$flavour.log" 2>&1; then
    chroot_umount "$root"
    die "apt-get install of the packages failed in the $flavour guest (see $WORKDIR/install-$flavour.log)"
  fi
  [ "$(stat -c %Y "$root$image")" -gt "$stamp" ] || {
    chroot_umount "$root"
    die "installing the packages did not regenerate $image (no update-initramfs trigger? see $WORKDIR/install-$flavour.log)"
  }
  initramfs_listing "$root" "$image" "$listing"
  chroot_umount "$root"
  rm -rf "$root/tmp/cc-fde-debs"
  # initramfs-tools copies every installed boot script into every image: local-top/cc-fde and
  # local-bottom/cc-fde are there, and each does nothing without /etc/cc-fde/config.json and
  # fde-agent in the image, which only the hook adds.
  if grep -E 'fde-agent|cc-fde' "$listing" | grep -vxE 'scripts/local-(top|bottom)/cc-fde' \
    >"$WORKDIR/inert-$flavour.found"; then
    die "without a configuration the regenerated $flavour initramfs carries cc-fde files (see $WORKDIR/inert-$flavour.found)"
  fi
  log "$flavour: packages installed by apt; the regenerated initramfs ($(wc -l <"$listing") files) holds nothing of cc-fde"
}

# package_file NAME: the path of package NAME's .deb in PACKAGES_DIR (exactly one).
package_file() {
  local found=()
  mapfile -t found < <(find "$PACKAGES_DIR" -maxdepth 1 -name "$1_*.deb")
  [ "${#found[@]}" -eq 1 ] || die "expected one $1_*.deb in $PACKAGES_DIR, found ${#found[@]}"
  printf '%s\n' "${found[0]}"
}

# image_require_libraries ROOT BINARY...: every library the guest paths BINARY... link is in ROOT.
image_require_libraries() {
  local root=$1 missing
  shift
  missing=$(in_chroot "$root" ldd "$@" | grep 'not found' || true)
  [ -z "$missing" ] || die "libraries missing in the guest for $*: $missing"
}

# image_add_test_files ROOT CA [EVIDENCE]: the configuration, the CA and the marker unit
# (test-only files).
image_add_test_files() {
  local root=$1 ca=$2 evidence=${3:-sample}
  mkdir -p "$root/etc/cc-fde"
  image_config "$root/etc/cc-fde/config.json" "" "$evidence"
  install -m 0644 "$ca" "$root/etc/cc-fde/kbs-ca.pem"
  install -m 0755 "$E2E_DIR/guest/e2e-marker" "$root/usr/local/sbin/e2e-marker"
  install -m 0644 "$E2E_DIR/guest/e2e-marker.service" "$root/etc/systemd/system/e2e-marker.service"
  mkdir -p "$root/etc/systemd/system/sysinit.target.wants"
  ln -sf ../e2e-marker.service "$root/etc/systemd/system/sysinit.target.wants/e2e-marker.service"
  echo "cc-fde-e2e" >"$root/etc/hostname"
}

# image_add_late_checks ROOT ROOT_RESOURCE DATA_UUID: the booted system's side (e2e.late=1): a data
# volume in crypttab for fde-agent-late.service (enabled), and e2e-late.service, which asks the
# broker for ROOT_RESOURCE after switch-root.
image_add_late_checks() {
  local root=$1 resource=$2 data_uuid=$3
  echo "data UUID=$data_uuid none luks,_netdev,nofail" >>"$root/etc/crypttab"
  mkdir -p "$root/etc/cc-fde-e2e" "$root/etc/systemd/system/remote-cryptsetup.target.wants" \
    "$root/etc/systemd/system/multi-user.target.wants"
  echo "$resource" >"$root/etc/cc-fde-e2e/root-resource"
  ln -sf /usr/lib/systemd/system/fde-agent-late.service \
    "$root/etc/systemd/system/remote-cryptsetup.target.wants/fde-agent-late.service"
  install -m 0755 "$E2E_DIR/guest/e2e-late" "$root/usr/local/sbin/e2e-late"
  install -m 0644 "$E2E_DIR/guest/e2e-late.service" "$root/etc/systemd/system/e2e-late.service"
  ln -sf ../e2e-late.service "$root/etc/systemd/system/multi-user.target.wants/e2e-late.service"
}

# image_add_dracut_emu_module ROOT TEE: the test dracut module guest/dracut-emu as
# 99cc-fde-e2e-TEE (tdx or snp; the module reads its TEE from that name) with TEE's unit.
image_add_dracut_emu_module() {
  local module=$1/usr/lib/dracut/modules.d/99cc-fde-e2e-$2
  mkdir -p "$module"
  install -m 0755 "$E2E_DIR/guest/dracut-emu/module-setup.sh" "$module/module-setup.sh"
  install -m 0644 "$E2E_DIR/guest/dracut-emu/cc-fde-$2-emu.service" "$module/"
}

# image_add_tdx_emu ROOT EMULATOR PLATFORM_DIR: the test-only configfs-tsm TDX emulation
# (tests/e2e/tdx-emu) with the emulated platform's key material and CCEL, and the test dracut
# module that starts it in the initramfs before fde-agent.service. Never part of the install rules.
image_add_tdx_emu() {
  local root=$1 emulator=$2 platform=$3 file
  install -m 0755 "$emulator" "$root/usr/local/sbin/cc-fde-tdx-emu"
  mkdir -p "$root/etc/cc-fde-e2e/tdx-platform"
  install -m 0600 "$platform/chain.pem" "$root/etc/cc-fde-e2e/tdx-platform/chain.pem"
  for file in ccel-table.bin ccel-data.bin reference.json; do
    install -m 0644 "$platform/$file" "$root/etc/cc-fde-e2e/tdx-platform/$file"
  done
  image_add_dracut_emu_module "$root" tdx
  # The same unit in the booted system (not enabled): after switch-root systemd deserializes the
  # running emulation and keeps it, with IgnoreOnIsolate=yes, only when it finds its unit file;
  # without it the unit is "not-found" and the isolation to the default target stops it.
  install -m 0644 "$E2E_DIR/guest/dracut-emu/cc-fde-tdx-emu.service" \
    "$root/etc/systemd/system/cc-fde-tdx-emu.service"
  image_require_libraries "$root" /usr/local/sbin/cc-fde-tdx-emu
}

# image_snp_platform ROOT EMULATOR PLATFORM_DIR: the emulator and the SEV-SNP platform's files
# the guest's emulation reads (/etc/cc-fde-e2e/snp-platform: the VCEK key and certificate, the
# reference measurement). Test-only, never part of the install rules.
image_snp_platform() {
  local root=$1 emulator=$2 platform=$3
  install -m 0755 "$emulator" "$root/usr/local/sbin/cc-fde-tdx-emu"
  mkdir -p "$root/etc/cc-fde-e2e/snp-platform"
  install -m 0600 "$platform/vcek-key.pem" "$root/etc/cc-fde-e2e/snp-platform/vcek-key.pem"
  install -m 0644 "$platform/vcek.der" "$platform/reference.json" "$root/etc/cc-fde-e2e/snp-platform/"
  image_require_libraries "$root" /usr/local/sbin/cc-fde-tdx-emu
}

# image_add_snp_emu_dracut ROOT EMULATOR PLATFORM_DIR: the SEV-SNP emulation and the test dracut
# module (cc-fde-e2e-snp) that starts it in the initramfs before fde-agent.service.
image_add_snp_emu_dracut() {
  local root=$1
  image_snp_platform "$@"
  image_add_dracut_emu_module "$root" snp
}

# image_itools_snp_emu ROOT add|remove: the test hook and init-premount script that put the
# SEV-SNP emulation into an initramfs-tools image and start it before local-top/cc-fde (add), or
# takes them out again so that later images are built without them (remove).
image_itools_snp_emu() {
  local root=$1
  if [ "$2" = add ]; then
    install -D -m 0755 "$E2E_DIR/guest/itools-snp-emu/hook" \
      "$root/etc/initramfs-tools/hooks/cc-fde-e2e-snp"
    install -D -m 0755 "$E2E_DIR/guest/itools-snp-emu/init-premount" \
      "$root/etc/initramfs-tools/scripts/init-premount/cc-fde-e2e-snp"
  else
    rm -f "$root/etc/initramfs-tools/hooks/cc-fde-e2e-snp" \
      "$root/etc/initramfs-tools/scripts/init-premount/cc-fde-e2e-snp"
  fi
}

# image_dracut ROOT KVER OUT [EMULATION]: generates the dracut initramfs inside ROOT, with the
# cc-fde module the install rules put there and the test's emulation module (EMULATION tdx, the
# default, when image_add_tdx_emu ran; snp: the SEV-SNP one of image_add_snp_emu_dracut), and
# copies it to OUT.
image_dracut() {
  local root=$1 kver=$2 out=$3 emulation=${4:-tdx} module add="systemd crypt systemd-networkd cc-fde"
  [ -d "$root/usr/lib/dracut/modules.d/99cc-fde-e2e-$emulation" ] && add+=" cc-fde-e2e-$emulation"
  module=$(find "$root/usr/lib/dracut/modules.d" -maxdepth 1 -name '[0-9][0-9]cc-fde' -printf '%f\n')
  [ -n "$module" ] || die "no cc-fde dracut module in /usr/lib/dracut/modules.d of the guest (install rules)"
  [ -f "$root/lib/systemd/system/fde-agent.service" ] ||
    die "no fde-agent.service in /lib/systemd/system of the guest (install rules)"
  chroot_mount "$root"
  if ! in_chroot "$root" dracut --force --no-hostonly --kver "$kver" \
    --add "$add" \
    --omit "plymouth network-legacy" \
    --add-drivers "virtio_pci virtio_blk virtio_net dm_crypt" \
    --compress "gzip -1" /boot/initrd-e2e.img >"$WORKDIR/dracut.log" 2>&1; then
    chroot_umount "$root"
    die "dracut failed (see $WORKDIR/dracut.log)"
  fi
  chroot_umount "$root"
  mv "$root/boot/initrd-e2e.img" "$out"
}

# image_initramfs_tools ROOT KVER UUID OUT: the installer's crypttab and fstab for the root
# ("cryptroot", the same lines the provisioning VM wrote into the disk's root), then the
# initramfs-tools initramfs generated inside ROOT by mkinitramfs with the cc-fde hook and boot
# scripts the install rules put there, copied to OUT.
image_initramfs_tools() {
  local root=$1 kver=$2 uuid=$3 out=$4
  [ -f "$root/usr/share/initramfs-tools/hooks/cc-fde" ] ||
    die "no cc-fde hook in /usr/share/initramfs-tools/hooks of the guest (install rules)"
  echo "cryptroot UUID=$uuid none luks,initramfs" >"$root/etc/crypttab"
  echo "/dev/mapper/cryptroot / ext4 defaults 0 0" >"$root/etc/fstab"
  mkdir -p "$root/etc/cryptsetup-initramfs"
  echo "CRYPTSETUP=y" >"$root/etc/cryptsetup-initramfs/conf-hook"
  chroot_mount "$root"
  if ! in_chroot "$root" mkinitramfs -o /boot/initrd-e2e.img "$kver" \
    >"$WORKDIR/mkinitramfs.log" 2>&1; then
    chroot_umount "$root"
    die "mkinitramfs failed (see $WORKDIR/mkinitramfs.log)"
  fi
  in_chroot "$root" lsinitramfs /boot/initrd-e2e.img >"$WORKDIR/initramfs-tools.list" 2>&1 ||
    die "lsinitramfs failed"
  chroot_umount "$root"
  mv "$root/boot/initrd-e2e.img" "$out"
}

# image_tar ROOT OUT: the root filesystem as a tar on a raw disk (padded to whole MiB).
image_tar() {
  local root=$1 out=$2
  tar -C "$root" --numeric-owner --one-file-system --exclude='./proc/*' --exclude='./sys/*' \
    --exclude='./dev/*' --exclude='./var/cache/apt/archives/*.deb' \
    --exclude='./var/lib/apt/lists/*' --exclude='./boot/initrd.img-*' --exclude='./.complete' \
    -cf "$out" . || die "tar of the root failed"
  local size
  size=$(stat -c %s "$out")
  truncate -s $(((size + 1048575) / 1048576 * 1048576)) "$out"
}
