#!/usr/bin/env bash
# Exim as the RELAY of the relay-chain smuggling cases (scenarios/dns/relay-smuggling.yaml)
# and as the DANE sender of scenarios/dns/dane.yaml, through the fake DNS, in a network
# namespace of its own; it is also handed the REQUIRETLS messages of
# scenarios/dns/requiretls.yaml (it has no MTA-STS, so dns.mta-sts is not run), the
# unreadable MX answers of scenarios/dns/hostile.yaml, and as a receiving MTA the
# hostile SPF and PTR records of scenarios/dns/hostile-lookups.yaml.
#
#   scripts/peers/exim-mx.sh DIR [smtpspec run arguments ...]
#
# Makes a network namespace (smtpspec-exim-mx) with only a loopback interface, whose
# resolv.conf names 127.0.0.1 (the fake DNS answers there, on port 53, inside it),
# writes an Exim 4.96 configuration in DIR that relays for loopback clients on
# 127.0.0.1:2525 and routes every domain by its MX records (the dnslookup router), starts
# the daemon inside the namespace, writes the sender profile DIR/exim-sender.yaml and
# runs
#   smtpspec run scenarios/dns/relay-smuggling.yaml scenarios/dns/dane.yaml \
#     scenarios/dns/requiretls.yaml scenarios/dns/hostile.yaml \
#     scenarios/dns/hostile-lookups.yaml --sender DIR/exim-sender.yaml [arguments]
# inside the namespace: each case hands its content to Exim over SMTP at 2525 and the
# scripted MX (127.0.0.2:25) records what Exim passes on. Everything is torn down
# afterwards.
#
# Exim keeps its defaults on both sides of the relay (smtp_enforce_sync, CHUNKING and
# PIPELINING advertised, the smtp transport's line handling); only the transport's
# timeouts are shortened, and CHUNKING is not used outbound (the scripted MX does not
# offer it anyway). DANE is on as a security-minded operator sets it: DNSSEC asked for
# (dns_dnssec_ok, dnssec_request_domains) and hosts_try_dane = *. The dns.mx cases are
# Postfix's (postfix-mx.sh); Exim runs the relay and DANE cases. The daemon is the heavy
# build (exim4-daemon-heavy: SPF through libspf2), which checks the sender's SPF at
# RCPT. Needs root, iproute2 and the Exim that scripts/peers/install.sh unpacks.
# EXIM_MX_NS names the namespace (default smtpspec-exim-mx), for a run beside another.
# Exit status: smtpspec's.
set -euo pipefail
# shellcheck source=netns.sh
. "$(dirname "$0")/netns.sh"

dir=$(realpath -m "${1:?DIR}")
shift
ns=${EXIM_MX_NS:-smtpspec-exim-mx}
bin=${SMTPSPEC_BIN:-$(pwd)/target/release/smtpspec}
root=${SMTPSPEC_PEERS:-/opt/smtpspec-peers}/exim-heavy
exim=$root/usr/sbin/exim4
# libspf2 unpacks into usr/lib, the other libraries into the multiarch directory.
libs=$root/usr/lib/x86_64-linux-gnu:$root/usr/lib
export LD_LIBRARY_PATH=$libs
[ -x "$bin" ] || { echo "exim-mx: $bin is missing (cargo build --release -p smtpspec)" >&2; exit 2; }
command -v ip >/dev/null || { echo "exim-mx: ip (iproute2) is missing: run scripts/peers/install.sh" >&2; exit 2; }
[ -x "$exim" ] || { echo "exim-mx: $exim is missing: run scripts/peers/install.sh" >&2; exit 2; }
id Debian-exim >/dev/null 2>&1 || { echo "exim-mx: user Debian-exim missing: run scripts/peers/install.sh" >&2; exit 2; }

cleanup() {
  local pid
  pid=$(cat "$dir/exim.pid" 2>/dev/null) || pid=
  if [ -n "$pid" ] && grep -qs "$dir/exim.conf" "/proc/$pid/cmdline"; then
    kill "$pid" 2>/dev/null || true
  fi
  netns_down "$ns"
}
cleanup
trap cleanup EXIT
netns_up "$ns"

mkdir -p "$dir/spool" "$dir/log"
chmod 755 "$dir"
chown -R Debian-exim:Debian-exim "$dir/spool" "$dir/log"
# The CA of the run, which Exim's transport is told to trust and the profile hands
# smtpspec (ca:) to sign the cases' certificates (the REQUIRETLS cases need one).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 2 -subj "/CN=smtpspec sender CA" \
  -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature 2>"$dir/openssl.log" ||
  { echo "exim-mx: openssl could not make the CA:" >&2; cat "$dir/openssl.log" >&2; exit 1; }
chmod 644 "$dir/ca.pem"
cat > "$dir/exim.conf" <<CONF
# Written by scripts/peers/exim-mx.sh: Exim as a relay for loopback clients.
primary_hostname = relay.example.test
exim_user = Debian-exim
exim_group = Debian-exim
never_users = root
exim_path = $exim
keep_environment = LD_LIBRARY_PATH
spool_directory = $dir/spool
log_file_path = $dir/log/%slog
pid_file_path = $dir/exim.pid
local_interfaces = 127.0.0.1
daemon_smtp_ports = 2525
disable_ipv6 = true
# Clients' names are looked up (the stock configuration's host_lookup = *), so a
# hostile-lookup case's PTR record is read; the cases connect from 127.0.0.x.
host_lookup = *
rfc1413_hosts =
tls_advertise_hosts =
acl_smtp_rcpt = acl_check_rcpt
log_selector = +smtp_protocol_error +smtp_syntax_error +tls_peerdn
# DANE (RFC 7672, the dns.dane cases): ask for DNSSEC and trust the resolver's AD bit.
dns_dnssec_ok = 1

begin acl

# Relay for the submitting client on loopback (example.conf's relay_from_hosts with
# control = submission), nothing else.
acl_check_rcpt:
  # The sender domain's TXT records through dnsdb, as configurations that read a
  # domain's policy records do: a dns.hostile-lookups case's SPF record is parsed
  # (Exim's dnsdb code read crafted answers out of bounds, CVE-2023-42119); records
  # one to a line, each record's strings joined (";"), as an SPF reader joins them.
  warn    set acl_m_txt = \${lookup dnsdb{>\n; txt=\$sender_address_domain}{\$value}{}}
  # SPF (RFC 7208) of the sender's domain through libspf2, as a receiving MTA checks
  # it: a dns.hostile-lookups case's macros are expanded here (CVE-2023-42118 is
  # libspf2's). Every result is only noted in a header.
  warn    spf = pass : fail : softfail : neutral : none : permerror : temperror : invalid
          add_header = X-SPF-Result: \$spf_result
          logwrite = SPF \$spf_result for \$sender_address_domain
  accept  hosts   = 127.0.0.0/8 : 192.0.2.66
          control = submission
  deny    message = relay not permitted

begin routers

# Bounces go to the profile's sender, root@localhost: discarded (the ** line in the
# mainlog records each), so that the queue holds only the case's message and the
# profile's queued check tells a deferral from a bounce. Left to dnslookup, they stay
# queued for ever and every bounce looks like a deferral.
bounces:
  driver = redirect
  domains = localhost
  data = :blackhole:

# example.conf's dnslookup router: every domain by its MX records. The MX hosts are
# 127.0.0.x inside the namespace; self = send lets Exim deliver to an address it
# would otherwise take for its own.
dnslookup:
  driver = dnslookup
  transport = remote_smtp
  dnssec_request_domains = *
  self = send
  no_more

begin transports

remote_smtp:
  driver = smtp
  hosts_try_dane = *
  tls_verify_certificates = $dir/ca.pem
  hosts_try_chunking =
  connect_timeout = 2s
  command_timeout = 5s
  data_timeout = 5s
  final_timeout = 5s

begin retry

*  *  F,1h,15m
CONF
"$exim" -C "$dir/exim.conf" -bV >/dev/null 2>"$dir/exim.check" ||
  { echo "exim-mx: $dir/exim.conf is refused:" >&2; cat "$dir/exim.check" >&2; exit 1; }
ip netns exec "$ns" setsid "$exim" -C "$dir/exim.conf" -bdf -q30m >"$dir/exim.out" 2>&1 </dev/null &
for _ in $(seq 100); do
  ip netns exec "$ns" bash -c 'exec 3<>/dev/tcp/127.0.0.1/2525' 2>/dev/null && break
  sleep 0.1
done
ip netns exec "$ns" bash -c 'exec 3<>/dev/tcp/127.0.0.1/2525' 2>/dev/null ||
  { echo "exim-mx: Exim does not listen on 2525 in $ns; see $dir/log/mainlog and $dir/exim.out" >&2; exit 1; }

# Before each case: an empty queue and no retry data.
run="LD_LIBRARY_PATH=$libs $exim -C $dir/exim.conf"
cat > "$dir/exim-sender.yaml" <<YAML
name: exim
dns: 127.0.0.1:53
port: 25
from: root@localhost
helo: relay.example.test
reset: [sh, -c, "for id in \$($run -bpr | awk 'NF>=3 && /^ *[0-9]+[smhd] /{print \$3}'); do $run -Mrm \$id >/dev/null; done; rm -f $dir/spool/db/retry*"]
inject: [sh, -c, "$run -odi -f '{from}' {to} < '{message}'"]
submit: 127.0.0.1:2525
queued: [sh, -c, "[ \$($run -bpc) -gt 0 ]"]
settle: 3s
max_runs: 5
ca: { cert: $dir/ca.pem, key: $dir/ca.key }
YAML
echo "exim-mx: Exim $("$exim" -C "$dir/exim.conf" -bV 2>/dev/null | sed -n '1s/^Exim version \([^ ]*\).*/\1/p') relaying from namespace $ns; profile $dir/exim-sender.yaml"
status=0
ip netns exec "$ns" "$bin" run "$(pwd)/scenarios/dns/relay-smuggling.yaml" "$(pwd)/scenarios/dns/dane.yaml" \
  "$(pwd)/scenarios/dns/requiretls.yaml" "$(pwd)/scenarios/dns/hostile.yaml" \
  "$(pwd)/scenarios/dns/hostile-lookups.yaml" --sender "$dir/exim-sender.yaml" "$@" || status=$?
echo "exim-mx: Exim's own log of the deliveries is $dir/log/mainlog"
exit "$status"
