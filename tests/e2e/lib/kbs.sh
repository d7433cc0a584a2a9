# shellcheck shell=bash
# The broker side of the VM test: a throwaway CA and a server certificate for the address the
# guest dials (10.0.2.100; also 127.0.0.1 so the host's admin requests verify), and devkbs on
# 127.0.0.1 only, started through the CLI tests' helper (tests/cli/lib/devkbs.sh).

# shellcheck source=tests/cli/lib/devkbs.sh
source "$E2E_DIR/../cli/lib/devkbs.sh"

# Resource that holds the root volume's key (REPO/TYPE/TAG).
E2E_RESOURCE=default/cc-fde/e2e-root

# kbs_make_pki DIR: writes DIR/ca.pem (+ ca.key), DIR/server.pem and DIR/server.key.
kbs_make_pki() {
  local dir=$1
  mkdir -p "$dir"
  (
    umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj /CN=cc-fde-e2e-ca -keyout "$dir/ca.key" -out "$dir/ca.pem" &&
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=10.0.2.100 \
        -keyout "$dir/server.key" -out "$dir/server.csr" &&
      printf 'subjectAltName=IP:10.0.2.100,IP:127.0.0.1\n' >"$dir/server.ext" &&
      openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -out "$dir/server.pem" -extfile "$dir/server.ext"
  ) >"$dir/openssl.log" 2>&1 || die "openssl failed (see $dir/openssl.log)"
  chmod 644 "$dir/ca.pem"
}

# kbs_start DEVKBS STATE_DIR PKI_DIR [devkbs options...]: starts devkbs on 127.0.0.1 (a free port)
# with the PKI's server certificate and sample evidence allowed, and sets the policy so that the
# e2e resource is released to sample evidence. Sets DEVKBS_PORT (and the DEVKBS_* of the helper).
kbs_start() {
  local binary=$1 state=$2 pki=$3
  shift 3
  devkbs_start "$binary" "$state" --tls-cert "$pki/server.pem" --tls-key "$pki/server.key" \
    --allow-sample "$@" || die "devkbs did not start (see $state.log)"
  DEVKBS_CA=$pki/ca.pem
  DEVKBS_PORT=$(jq -r .port "$state.json")
  devkbs_admin POST /kbs/v0/resource-policy -H 'Content-Type: application/json' \
    --data "{\"resources\":{\"$E2E_RESOURCE\":{\"tees\":[\"sample\"]}}}" >/dev/null ||
    die "setting the devkbs policy failed"
  log "devkbs listening on 127.0.0.1:$DEVKBS_PORT (pid $DEVKBS_PID)"
}
