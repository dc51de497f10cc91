#!/usr/bin/env bash
# Install the real SMTP peers the tests, the peer runs and the benchmarks use: Debian
# packages, and aiosmtpd from PyPI in a virtualenv (${SMTPSPEC_PEERS:-/opt/smtpspec-peers}/venv).
# Idempotent; needs root (CI runs as root). The traps of each peer are handled in its
# start script (scripts/peers/postfix.sh, exim.sh).
#
#   swaks, msmtp, curl            clients for the interop tests (STARTTLS + AUTH)
#   libnet-ssleay-perl, libio-socket-ssl-perl, libauthen-sasl-perl   swaks' TLS and AUTH
#   postfix                       a server peer (scripts/peers/postfix.sh), and
#                                 smtp-source and smtp-sink for the benchmark
#   openssl                       certificates for the peers' STARTTLS
#   dig (bind9-dnsutils)          queries the fake DNS in harness/tests/dns.rs
#   ip (iproute2)                 the network namespace of scripts/peers/postfix-mx.sh
#   postfix-policyd-spf-python    SPF (RFC 7208) on postfix-mx.sh's listener, for the
#                                 dns.hostile-lookups cases (pyspf)
#   zip                           seed corpora in .clusterfuzzlite/build.sh
#   chromium                      renders the HTML report headless (scripts/screenshot-report.sh)
#   python3-venv + aiosmtpd       a server peer (scenarios/targets/aiosmtpd.yaml);
#   jsonschema, pyyaml            the venv also checks the catalogue against its schema
#   python3                       smtplib (preinstalled on this kind of machine)
#   exim 4.96                     a server peer (scripts/peers/exim.sh): exim4-daemon-light
#                                 and exim4-base unpacked with dpkg -x into
#                                 ${SMTPSPEC_PEERS:-/opt/smtpspec-peers}/exim, because
#                                 apt would remove Postfix (both provide
#                                 mail-transport-agent); user Debian-exim; and
#                                 exim4-daemon-heavy (SPF through libspf2) the same way
#                                 into .../exim-heavy, the relay of scripts/peers/exim-mx.sh
#   postfix-mta-sts-resolver      PyPI, in ${SMTPSPEC_PEERS:-/opt/smtpspec-peers}/sts-venv:
#                                 Postfix's MTA-STS policy daemon (RFC 8461), a
#                                 socketmap for smtp_tls_policy_maps (postfix-mx.sh)
#   nodemailer, smtp-server       npm, in ${SMTPSPEC_PEERS:-/opt/smtpspec-peers}/node: a
#                                 client peer, and a server peer
#                                 (scenarios/targets/smtp-server.yaml)
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
command -v policyd-spf >/dev/null || need+=(postfix-policyd-spf-python)
command -v zip >/dev/null || need+=(zip)
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

# Exim 4.96 beside Postfix: `apt-get install
# exim4-daemon-light` would remove Postfix (both are the mail-transport-agent), so the
# packages are unpacked with dpkg -x and run from there; scripts/peers/exim.sh points
# LD_LIBRARY_PATH at the unpacked libraries the system lacks.
# unpack_exim FLAVOUR ROOT: exim4-daemon-FLAVOUR (with exim4-base) and the libraries
# it needs that the system lacks, unpacked into ROOT, the setuid bit dropped.
unpack_exim() {
  local flavour=$1 root=$2
  # libspf2 (heavy) unpacks into usr/lib, the others into the multiarch directory.
  local bin=$root/usr/sbin/exim4 libs=$root/usr/lib/x86_64-linux-gnu:$root/usr/lib
  if [ -x "$bin" ] && [ ! -u "$bin" ]; then
    echo "peers: exim $(LD_LIBRARY_PATH=$libs "$bin" -C /dev/null -bV 2>/dev/null | sed -n 's/^Exim version \([^ ]*\).*/\1/p') ($flavour) in $root"
  else
    echo "peers: unpacking exim4-daemon-$flavour and exim4-base into $root"
    # The daemon's library dependencies that are not installed system-wide come along.
    local debs lib deb exim_debs=("exim4-daemon-$flavour" exim4-base)
    for lib in $(apt-cache depends "exim4-daemon-$flavour" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^lib/ {print $2}'); do
      dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q 'install ok installed' || exim_debs+=("$lib")
    done
    debs=$(mktemp -d)
    # apt downloads as the _apt user; without this it warns that it runs unsandboxed.
    chown _apt "$debs" 2>/dev/null || true
    if ! (cd "$debs" && apt-get download -q "${exim_debs[@]}"); then
      # No or stale package lists (a fresh image): refresh once and retry.
      apt-get update -q
      (cd "$debs" && apt-get download -q "${exim_debs[@]}") ||
        { echo "peers: apt-get download ${exim_debs[*]} failed" >&2; rm -rf "$debs"; exit 1; }
    fi
    mkdir -p "$root"
    for deb in "$debs"/*.deb; do dpkg -x "$deb" "$root"; done
    rm -rf "$debs"
    # The deb ships exim4 setuid root; with the bit set its re-exec as Debian-exim (for
    # delivery) drops LD_LIBRARY_PATH and cannot load the unpacked libraries.
    chmod u-s "$bin"
  fi
  if LD_LIBRARY_PATH=$libs ldd "$bin" | grep 'not found' >&2; then
    echo "peers: $bin lacks the libraries above" >&2
    exit 1
  fi
}
# The light daemon is the server peer (scripts/peers/exim.sh); the heavy one, which
# links libspf2 for SPF (RFC 7208), relays in scripts/peers/exim-mx.sh, where the
# dns.hostile-lookups cases hand it hostile SPF records (CVE-2023-42118 is libspf2's).
unpack_exim light "${SMTPSPEC_PEERS:-/opt/smtpspec-peers}/exim"
unpack_exim heavy "${SMTPSPEC_PEERS:-/opt/smtpspec-peers}/exim-heavy"
# Exim's daemon and deliveries run as Debian-exim (exim_user in scripts/peers/exim.sh),
# the user the Debian package would create.
id Debian-exim >/dev/null 2>&1 ||
  useradd --system --user-group --no-create-home --home-dir /var/spool/exim4 \
    --shell /usr/sbin/nologin Debian-exim

venv=${SMTPSPEC_PEERS:-/opt/smtpspec-peers}/venv
if "$venv/bin/python3" -c 'import aiosmtpd, jsonschema, yaml' 2>/dev/null; then
  echo "peers: aiosmtpd $("$venv/bin/python3" -c 'import aiosmtpd; print(aiosmtpd.__version__)') in $venv"
else
  echo "peers: installing aiosmtpd, jsonschema and pyyaml into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'aiosmtpd==1.4.6' jsonschema pyyaml
fi

# Its own venv: the daemon pins aiodns below 5 (it calls query(), which aiodns 4
# deprecates and 5 removes).
sts_venv=${SMTPSPEC_PEERS:-/opt/smtpspec-peers}/sts-venv
if [ -x "$sts_venv/bin/mta-sts-daemon" ]; then
  echo "peers: postfix-mta-sts-resolver $("$sts_venv/bin/pip" show postfix-mta-sts-resolver 2>/dev/null | sed -n 's/^Version: //p') in $sts_venv"
else
  echo "peers: installing postfix-mta-sts-resolver into $sts_venv"
  python3 -m venv "$sts_venv"
  "$sts_venv/bin/pip" install -q 'postfix-mta-sts-resolver==1.5.1' 'aiodns<5'
fi

# Client peers for `smtpspec client` (scenarios/targets/clients/): nodemailer from npm,
# and the lettre client built from scripts/clients/lettre-client (its own Cargo.lock).
node_dir=${SMTPSPEC_PEERS:-/opt/smtpspec-peers}/node
# nodemailer is a client peer, smtp-server (nodemailer's SMTP server library) a server
# peer (scripts/peers/smtp_server_peer.js); one folder, so one package.json keeps both.
for pkg in nodemailer@10.6.1 smtp-server@3.21.6; do
  name=${pkg%@*}
  if [ -f "$node_dir/node_modules/$name/package.json" ]; then
    echo "peers: $name $(node -p "require('$node_dir/node_modules/$name/package.json').version") in $node_dir"
  elif command -v npm >/dev/null; then
    echo "peers: installing $name into $node_dir"
    mkdir -p "$node_dir"
    npm install --silent --no-audit --no-fund --prefix "$node_dir" "$pkg"
  else
    echo "peers: npm is missing, $name not installed" >&2
  fi
done
lettre_dir=$(cd "$(dirname "$0")/../clients/lettre-client" && pwd)
# Always through cargo: it rebuilds when the client's source changed, and is quick when
# it did not.
echo "peers: building the lettre client in $lettre_dir/target/release"
cargo build --release --quiet --manifest-path "$lettre_dir/Cargo.toml"
