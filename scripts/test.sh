#!/usr/bin/env bash
# Runs the whole trustgate test suite on a fresh machine: installs what the tests need when
# missing (swaks; Python 3 for the smtplib test and the official Standard Webhooks verifier;
# nats-server for the JetStream sink; dnslib and dkimpy for the SPF/DKIM/DMARC/ARC tests),
# then runs every test.
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v swaks >/dev/null 2>&1 || need+=(swaks)
command -v python3 >/dev/null 2>&1 || need+=(python3 python3-pip)
command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
# swaks speaks TLS (STARTTLS and implicit TLS tests) through these Perl modules, which a
# package install without recommends leaves out.
perl -MNet::SSLeay -MIO::Socket::SSL -e 1 >/dev/null 2>&1 || need+=(libnet-ssleay-perl libio-socket-ssl-perl)
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]}" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The webhook tests verify signatures with the official Standard Webhooks library.
if ! python3 -c "import standardwebhooks" >/dev/null 2>&1; then
  echo "test.sh: installing the Python package standardwebhooks" >&2
  python3 -m pip install --quiet --disable-pip-version-check standardwebhooks 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages standardwebhooks
fi

# The authentication tests serve DNS with dnslib and sign mail with dkimpy (ARC needs authres,
# ed25519 needs PyNaCl, RSA key generation uses cryptography): an independent signer.
auth_py=()
for pair in dnslib:dnslib dkim:dkimpy authres:authres nacl:pynacl cryptography:cryptography; do
  python3 -c "import ${pair%%:*}" >/dev/null 2>&1 || auth_py+=("${pair#*:}")
done
if [ ${#auth_py[@]} -gt 0 ]; then
  echo "test.sh: installing the Python packages ${auth_py[*]}" >&2
  python3 -m pip install --quiet --disable-pip-version-check "${auth_py[@]}" 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "${auth_py[@]}"
fi

# The official validators (SaxonC-HE) re-score the invoice mutations, so the kept verdicts in
# tests/fixtures/invoices/mutation_verdicts.json cannot drift from the oracle's.
if ! python3 -c "import saxonche" >/dev/null 2>&1; then
  echo "test.sh: installing the Python package saxonche" >&2
  python3 -m pip install --quiet --disable-pip-version-check saxonche 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages saxonche \
    || echo "test.sh: saxonche could not be installed: the oracle re-run is skipped" >&2
fi
if python3 -c "import saxonche" >/dev/null 2>&1; then export TRUSTGATE_ORACLE=1; fi

# One test holds 2000 idle SMTP sessions (both ends in one process).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# A CI run builds once: incremental caches would only fill the disk.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

# The tests start real servers on 127.0.0.1 only, with their own temporary spools.
cargo test --locked --no-fail-fast --all-targets "$@"

# A fuzz smoke run where a nightly toolchain exists (docs/fuzzing.md): every cargo-fuzz target
# for about 20 seconds. TRUSTGATE_FUZZ_SMOKE=0 skips it. A crash fails this script.
if [ "${TRUSTGATE_FUZZ_SMOKE:-1}" != 0 ] && rustup toolchain list 2>/dev/null | grep '^nightly' >/dev/null; then
  scripts/fuzz-smoke.sh
else
  echo "test.sh: no nightly toolchain (or TRUSTGATE_FUZZ_SMOKE=0): fuzz smoke run skipped" >&2
fi
