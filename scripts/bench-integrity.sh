#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Throughput of authenticated encryption (dm-integrity) against plain aes-xts-plain64, measured in
# the VM test's provisioning VM under QEMU TCG: three LUKS2 mappings of a 96 MiB virtio disk
# (aes-xts-plain64; aes-xts-plain64 + hmac-sha256; aes-gcm-random with integrity aead), 4096-byte
# sectors, each written and then read with `dd bs=1M count=32` and O_DIRECT. TCG emulates every
# instruction: the figures compare the layouts on this machine, they are not hardware figures.
# Not part of CI (the opt-in e2e case bench-integrity); docs/OPERATIONS.md has the last results.
#
# Usage (as root): scripts/bench-integrity.sh [--build-dir DIR] [--keep]
#   The options are tests/e2e/run.sh's; the build must have CMAKE_INSTALL_PREFIX=/usr.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec bash "$root/tests/e2e/run.sh" "$@" bench-integrity
