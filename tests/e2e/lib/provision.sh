# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The provisioning VM: a busybox initramfs carrying fdectl, fde-agent, cryptsetup and mke2fs (with
# the libraries ldd lists; the host is Debian 12 like the guest), the guest kernel's virtio,
# dm-crypt and crypto modules, the agent configuration with the admin token, and guest/prov-init.
# It formats and enrolls the root disk against devkbs, then copies the root filesystem in.

# Modules the provisioning VM loads (their dependencies are added from modules.dep).
PROV_MODULES="virtio_pci virtio_blk virtio_net dm_mod dm_crypt xts aesni_intel aes_generic
  sha256_generic sha512_generic algif_skcipher af_alg ext4 dm_integrity authenc gcm ghash_generic
  algif_aead loop"

# The device-mapper branches of the agent's unit tests (binary under BUILD_DIR/tests/unit/agent,
# gtest filter), which the build host cannot run (it has no device-mapper): the provisioning VM
# runs them with prov.dmtests=1 (tests/e2e/guest/prov-init, "dm-tests").
PROV_DM_TESTS=(
  "unlock/agent_unlock_test UnlockTest.RealActivationWithoutDeviceMapperFailsCleanly"
  "binding/agent_binding_test BindingTest.IntegrityIsRefusedOutsideFormatAndWithoutDeviceMapper"
  "luks/agent_luks_test LuksVolumeTest.ActivateWithoutDeviceMapper:LuksVolumeTest.FormatWithIntegrityWithoutDeviceMapperChangesNothing"
)

# prov_dm_tests_built: whether BUILD_DIR has the unit tests of PROV_DM_TESTS (not with
# -DCCFDE_BUILD_TESTS=OFF, run.sh's own build-e2e).
prov_dm_tests_built() {
  local entry
  for entry in "${PROV_DM_TESTS[@]}"; do
    [ -x "$BUILD_DIR/tests/unit/agent/${entry%% *}" ] || return 1
  done
}

# _prov_copy_binary TREE FILE [DEST]: copies FILE (to DEST, default the same path) and every
# library ldd lists for it into TREE.
_prov_copy_binary() {
  local tree=$1 file=$2 dest=${3:-$2} lib
  mkdir -p "$tree$(dirname "$dest")"
  cp -L "$file" "$tree$dest"
  for lib in $(ldd "$file" | awk '/=> \//{print $3} /^\t\/lib/{print $1}'); do
    [ -e "$tree$lib" ] || cp -L --parents "$lib" "$tree"
  done
}

# _prov_module_closure ROOT KVER NAMES...: prints the relative paths (kernel/...) of the named
# modules and of everything they depend on, from ROOT's modules.dep.
_prov_module_closure() {
  local root=$1 kver=$2
  shift 2
  awk -v want="$*" '
    BEGIN { n = split(want, w, /[ \n\t]+/); for (i = 1; i <= n; i++) if (w[i] != "") need[w[i]] = 1 }
    {
      path = $1; sub(/:$/, "", path)
      name = path; sub(/.*\//, "", name); sub(/\.ko.*$/, "", name); gsub(/-/, "_", name)
      deps[name] = ""
      for (i = 2; i <= NF; i++) deps[name] = deps[name] " " $i
      file[name] = path
    }
    END {
      for (m in need) queue[++q] = m
      while (q > 0) {
        m = queue[q--]
        if (m in done || !(m in file)) continue
        done[m] = 1
        print file[m]
        k = split(deps[m], d, " ")
        for (i = 1; i <= k; i++) {
          x = d[i]; sub(/.*\//, "", x); sub(/\.ko.*$/, "", x); gsub(/-/, "_", x)
          if (!(x in done)) queue[++q] = x
        }
      }
    }' "$root/lib/modules/$kver/modules.dep"
}

# prov_build_initramfs OUT ROOT KVER CONFIG CA ADMIN_TOKEN: writes the provisioning initramfs to
# OUT. fdectl and fde-agent are taken from ROOT (where the install rules put them).
prov_build_initramfs() {
  local out=$1 root=$2 kver=$3 config=$4 ca=$5 token=$6 tree mods m
  tree=$WORKDIR/prov-tree
  rm -rf "$tree"
  mkdir -p "$tree"/{bin,sbin,usr/sbin,usr/bin,etc/cc-fde,proc,sys,dev,run,tmp,mnt}
  cp /bin/busybox "$tree/bin/busybox"
  if ldd /bin/busybox >/dev/null 2>&1; then die "/bin/busybox is not busybox-static"; fi
  _prov_copy_binary "$tree" /usr/sbin/cryptsetup /sbin/cryptsetup
  _prov_copy_binary "$tree" /usr/sbin/mke2fs /sbin/mke2fs
  _prov_copy_binary "$tree" /usr/sbin/dmsetup /sbin/dmsetup
  # GNU dd (O_DIRECT and its throughput line) for prov.mode=bench.
  _prov_copy_binary "$tree" /bin/dd /usr/bin/gnudd
  _prov_copy_binary "$tree" "$root/usr/sbin/fdectl" /usr/sbin/fdectl
  _prov_copy_binary "$tree" "$root/usr/sbin/fde-agent" /usr/sbin/fde-agent
  if prov_dm_tests_built; then
    local entry binary dir=/usr/libexec/cc-fde-dm-tests
    for entry in "${PROV_DM_TESTS[@]}"; do
      binary=${entry%% *}
      _prov_copy_binary "$tree" "$BUILD_DIR/tests/unit/agent/$binary" "$dir/${binary#*/}"
      strip --strip-debug "$tree$dir/${binary#*/}"
      echo "${binary#*/} ${entry#* }" >>"$tree$dir/list"
    done
    _prov_copy_binary "$tree" /sbin/losetup /sbin/losetup
  fi
  mods=$(_prov_module_closure "$root" "$kver" "$PROV_MODULES")
  for m in $mods; do
    mkdir -p "$tree/lib/modules/$kver/$(dirname "$m")"
    cp "$root/lib/modules/$kver/$m" "$tree/lib/modules/$kver/$m"
  done
  cp "$root/lib/modules/$kver"/modules.{order,builtin} "$tree/lib/modules/$kver/"
  "$tree/bin/busybox" depmod -b "$tree" "$kver" || die "busybox depmod failed"
  install -m 0644 "$config" "$tree/etc/cc-fde/config.json"
  install -m 0644 "$ca" "$tree/etc/cc-fde/kbs-ca.pem"
  install -m 0600 "$token" "$tree/etc/cc-fde/admin-token"
  install -m 0755 "$E2E_DIR/guest/prov-init" "$tree/init"
  (cd "$tree" && find . | cpio -o -H newc --quiet | gzip -1) >"$out" || die "cpio failed"
  # The admin token lives only in the provisioning initramfs (and devkbs's state).
  rm -rf "$tree"
}

# prov_run ROOT_IMG TAR KERNEL INITRD RESOURCE PORT LOG MODE [CRYPTTAB_NAME]: boots the
# provisioning VM (MODE format, integrity, encrypt, reencrypt or bench, see guest/prov-init);
# returns 0 and sets PROV_UUID when it printed PROV-OK.
prov_run() {
  local img=$1 tar=$2 kernel=$3 initrd=$4 resource=$5 port=$6 log=$7 mode=$8 crypttab=${9:-} net
  local append="console=ttyS0 panic=-1 module_blacklist=kvm,kvm_amd,kvm_intel"
  append+=" prov.resource=$resource prov.mode=$mode"
  [ -n "$crypttab" ] && append+=" prov.crypttab=$crypttab"
  # PROV_APPEND: more options for guest/prov-init (prov.dmtests=1).
  [ -n "${PROV_APPEND:-}" ] && append+=" $PROV_APPEND"
  mapfile -t net < <(qemu_netdev "$port")
  # shellcheck disable=SC2034  # read by qemu_run
  if [ "$mode" = reencrypt ]; then
    QEMU_MILESTONES=("unlock=PROV-STEP .* unlock" "reencrypt=PROV-STEP .* reencrypt"
      "unlock-new-key=PROV-STEP .* unlock-new-key" "done=PROV-OK")
  else
    QEMU_MILESTONES=("dm-tests=PROV-STEP .* dm-tests" "enroll=PROV-STEP .* enroll" "unlock=PROV-STEP .* unlock"
      "mkfs=PROV-STEP .* mkfs" "untar=PROV-STEP .* untar" "bench=PROV-STEP .* bench"
      "done=PROV-OK")
  fi
  PROV_UUID=""
  qemu_run "$log" "${E2E_PROV_TIMEOUT:-300}" '^PROV-OK ' '^PROV-FAIL' 1 \
    -cpu max -m 1024 -smp 2 -nographic -no-reboot \
    -kernel "$kernel" -initrd "$initrd" -append "$append" \
    -drive "file=$img,if=virtio,format=raw,cache=unsafe" \
    -drive "file=$tar,if=virtio,format=raw,readonly=on" \
    "${net[@]}" || return 1
  PROV_UUID=$(sed -n 's/^PROV-OK uuid=\([0-9a-f-]*\).*/\1/p' <<<"$QEMU_VERDICT_LINE")
  [ -n "$PROV_UUID" ]
}
