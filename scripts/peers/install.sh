#!/usr/bin/env bash
# Install the real SMTP peers the tests, the peer runs and the benchmarks use: Debian
# packages, and aiosmtpd from PyPI in a virtualenv (${SMTPSPEC_PEERS:-/opt/smtpspec-peers}/venv).
# Idempotent; needs root (CI runs as root). See ../shared/peers/README.md for the traps.
#
#   swaks, msmtp, curl            clients for the interop tests (STARTTLS + AUTH)
#   libnet-ssleay-perl, libio-socket-ssl-perl, libauthen-sasl-perl   swaks' TLS and AUTH
#   postfix                       a server peer (scripts/peers/postfix.sh), and
#                                 smtp-source and smtp-sink for the benchmark
#   openssl                       certificates for the peers' STARTTLS
#   dig (bind9-dnsutils)          queries the fake DNS in harness/tests/dns.rs
#   ip (iproute2)                 the network namespace of scripts/peers/postfix-mx.sh
#   chromium                      renders the HTML report headless (scripts/screenshot-report.sh)
#   python3-venv + aiosmtpd       a server peer (scenarios/targets/aiosmtpd.yaml);
#   jsonschema, pyyaml            the venv also checks the catalogue against its schema
#   python3                       smtplib (preinstalled on this kind of machine)
set -euo pipefail

need=()
command -v swaks >/dev/null || need+=(swaks)
command -v msmtp >/dev/null || need+=(msmtp)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
command -v smtp-source >/dev/null || need+=(postfix)
perl -MNet::SSLeay -e1 2>/dev/null || need+=(libnet-ssleay-perl)
perl -MIO::Socket::SSL -e1 2>/dev/null || need+=(libio-socket-ssl-perl)
perl -MAuthen::SASL -e1 2>/dev/null || need+=(libauthen-sasl-perl)
command -v openssl >/dev/null || need+=(openssl)
command -v dig >/dev/null || need+=(bind9-dnsutils)
command -v ip >/dev/null || need+=(iproute2)
command -v chromium >/dev/null || need+=(chromium fonts-dejavu-core)
python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)

if [ ${#need[@]} -eq 0 ]; then
  echo "peers: Debian packages all installed"
else
  echo "peers: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix asks how to configure itself; it only provides tools here, never a daemon.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi

venv=${SMTPSPEC_PEERS:-/opt/smtpspec-peers}/venv
if "$venv/bin/python3" -c 'import aiosmtpd, jsonschema, yaml' 2>/dev/null; then
  echo "peers: aiosmtpd $("$venv/bin/python3" -c 'import aiosmtpd; print(aiosmtpd.__version__)') in $venv"
else
  echo "peers: installing aiosmtpd, jsonschema and pyyaml into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'aiosmtpd==1.4.6' jsonschema pyyaml
fi

# Client peers for `smtpspec client` (scenarios/targets/clients/): nodemailer from npm,
# and the lettre client built from scripts/clients/lettre-client (its own Cargo.lock).
node_dir=${SMTPSPEC_PEERS:-/opt/smtpspec-peers}/node
if [ -f "$node_dir/node_modules/nodemailer/package.json" ]; then
  echo "peers: nodemailer $(node -p "require('$node_dir/node_modules/nodemailer/package.json').version") in $node_dir"
elif command -v npm >/dev/null; then
  echo "peers: installing nodemailer into $node_dir"
  mkdir -p "$node_dir"
  npm install --silent --no-audit --no-fund --prefix "$node_dir" nodemailer@10.6.1
else
  echo "peers: npm is missing, nodemailer not installed" >&2
fi
lettre_dir=$(cd "$(dirname "$0")/../clients/lettre-client" && pwd)
if [ -x "$lettre_dir/target/release/lettre-client" ]; then
  echo "peers: lettre client built in $lettre_dir/target/release"
else
  echo "peers: building the lettre client"
  cargo build --release --quiet --manifest-path "$lettre_dir/Cargo.toml"
fi
