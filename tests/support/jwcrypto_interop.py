#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""jwcrypto side of the kbs_client_crypto_test interoperability tests (Debian python3-jwcrypto).

Keys, JWEs and plaintexts travel through files; argv carries only paths and algorithm names.

  genkey  EC-P-256|EC-P-521|RSA-<bits>  PRIVATE_JWK_OUT  PUBLIC_JWK_OUT
  encrypt ALG FORM PUBLIC_JWK_IN PLAINTEXT_IN JWE_OUT
          FORM "json": jwcrypto's own flattened JSON serialization (for ECDH-ES it carries
          "epk" in the unprotected "header"); FORM "compact-as-json": the compact
          serialization (epk inside the protected header, as Trustee sends it) rewritten as
          flattened JSON members.
  decrypt PRIVATE_JWK_IN JWE_IN PLAINTEXT_OUT
"""
import json
import sys

from jwcrypto import jwe, jwk


def genkey(kind, private_out, public_out):
    if kind.startswith("RSA-"):
        key = jwk.JWK.generate(kty="RSA", size=int(kind[len("RSA-"):]))
    else:
        key = jwk.JWK.generate(kty="EC", crv=kind[len("EC-"):])
    with open(private_out, "w") as f:
        f.write(key.export_private())
    with open(public_out, "w") as f:
        f.write(key.export_public())


def encrypt(alg, form, public_in, plaintext_in, jwe_out):
    with open(public_in) as f:
        key = jwk.JWK.from_json(f.read())
    with open(plaintext_in, "rb") as f:
        plaintext = f.read()
    token = jwe.JWE(plaintext, protected=json.dumps({"alg": alg, "enc": "A256GCM"}))
    token.add_recipient(key)
    if form == "json":
        out = token.serialize(compact=False)
    else:
        parts = token.serialize(compact=True).split(".")
        out = json.dumps(dict(zip(
            ["protected", "encrypted_key", "iv", "ciphertext", "tag"], parts)))
    with open(jwe_out, "w") as f:
        f.write(out)


def decrypt(private_in, jwe_in, plaintext_out):
    with open(private_in) as f:
        key = jwk.JWK.from_json(f.read())
    with open(jwe_in) as f:
        text = f.read()
    token = jwe.JWE()
    token.deserialize(text, key)
    with open(plaintext_out, "wb") as f:
        f.write(token.payload)


def main(argv):
    command = argv[1]
    if command == "genkey":
        genkey(*argv[2:5])
    elif command == "encrypt":
        encrypt(*argv[2:7])
    elif command == "decrypt":
        decrypt(*argv[2:5])
    else:
        raise SystemExit("unknown command " + command)


if __name__ == "__main__":
    main(sys.argv)
