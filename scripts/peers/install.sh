#!/usr/bin/env bash
# Install the real SMTP peers the tests and benchmarks use, from Debian's packages.
# Idempotent; needs root (CI runs as root). See ../shared/peers/README.md for the traps.
#
#   swaks, msmtp, curl            clients for the interop tests (STARTTLS + AUTH)
#   libnet-ssleay-perl, libio-socket-ssl-perl, libauthen-sasl-perl   swaks' TLS and AUTH
#   postfix                       smtp-source and smtp-sink for the benchmark
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

if [ ${#need[@]} -eq 0 ]; then
  echo "peers: all installed"
  exit 0
fi
echo "peers: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
# Postfix asks how to configure itself; it only provides tools here, never a daemon.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -q
apt-get install -y -q --no-install-recommends "${need[@]}"
