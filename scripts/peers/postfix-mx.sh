#!/usr/bin/env bash
# Postfix as the SENDER of the delivery cases (scenarios/dns), through the fake DNS.
#
#   scripts/peers/postfix-mx.sh DIR [smtpspec run arguments ...]
#   POSTFIX_MX_SENDER=hardened scripts/peers/postfix-mx.sh DIR [arguments ...]
#
# Makes a network namespace (smtpspec-mx, or $POSTFIX_MX_NS) with only loopback, whose
# resolv.conf names 127.0.0.1 (glibc's resolver only asks port 53, so the fake DNS
# answers there, inside the namespace), configures a second Postfix in DIR with DNS
# lookups on and two SMTP listeners on 127.0.0.1 inside the namespace (2525 with
# Postfix's defaults, 2526 hardened: smtpd_forbid_bare_newline=reject for every client),
# starts it there, writes the sender profiles DIR/postfix-sender.yaml (submit 2525) and
# DIR/postfix-hardened-sender.yaml (submit 2526), and runs
#   smtpspec run scenarios/dns --sender DIR/postfix-sender.yaml [arguments]
# inside the namespace: for each case smtpspec serves the zones on 127.0.0.1:53 and the
# scripted MX hosts on 127.0.0.x:25, hands Postfix a message with sendmail(1), and
# watches which hosts it connects to. The relay cases (scenarios/dns/relay-smuggling.yaml)
# hand their content to the submit listener over SMTP instead. With
# POSTFIX_MX_SENDER=hardened only the relay cases run, through the hardened listener (its
# outbound side is the same Postfix). Everything is torn down afterwards.
# Postfix keeps its defaults where the cases look (smtp_mx_session_limit = 2,
# smtp_skip_5xx_greeting = yes); only the timeouts are shortened, so that a silent
# host costs seconds, not minutes, and DANE is on (smtp_tls_security_level = dane with
# DNSSEC from the resolver's AD bit), as a security-minded operator sets it, and so is
# MTA-STS (RFC 8461): postfix-mta-sts-resolver runs in the namespace as the socketmap of
# smtp_tls_policy_maps, and a CA made here (DIR/ca.pem), which Postfix and the daemon
# trust and the profile hands smtpspec, signs the cases' MX and policy-host
# certificates. Needs root, iproute2, openssl, postfix and the resolver
# (scripts/peers/install.sh). Exit status: smtpspec's.
set -euo pipefail
# shellcheck source=netns.sh
. "$(dirname "$0")/netns.sh"

dir=$(realpath -m "${1:?DIR}")
shift
ns=${POSTFIX_MX_NS:-smtpspec-mx}
bin=${SMTPSPEC_BIN:-$(pwd)/target/release/smtpspec}
etc="$dir/etc"
[ -x "$bin" ] || { echo "postfix-mx: $bin is missing (cargo build --release -p smtpspec)" >&2; exit 2; }
command -v ip >/dev/null || { echo "postfix-mx: ip (iproute2) is missing: run scripts/peers/install.sh" >&2; exit 2; }
command -v postfix >/dev/null || { echo "postfix-mx: postfix is missing: run scripts/peers/install.sh" >&2; exit 2; }
command -v openssl >/dev/null || { echo "postfix-mx: openssl is missing: run scripts/peers/install.sh" >&2; exit 2; }
command -v policyd-spf >/dev/null || { echo "postfix-mx: policyd-spf is missing: run scripts/peers/install.sh" >&2; exit 2; }
sts_daemon=${SMTPSPEC_PEERS:-/opt/smtpspec-peers}/sts-venv/bin/mta-sts-daemon
[ -x "$sts_daemon" ] || { echo "postfix-mx: $sts_daemon (postfix-mta-sts-resolver) is missing: run scripts/peers/install.sh" >&2; exit 2; }

cleanup() {
  ip netns exec "$ns" postfix -c "$etc" stop >/dev/null 2>&1 || true
  # Only a daemon of ours: a pid file left by a killed run may name another process.
  if [ -s "$dir/mta-sts.pid" ]; then
    pid=$(cat "$dir/mta-sts.pid")
    if grep -q mta-sts-daemon "/proc/$pid/cmdline" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/mta-sts.pid"
  fi
  netns_down "$ns"
}
cleanup
trap cleanup EXIT
netns_up "$ns"

mkdir -p "$etc" "$dir/spool" "$dir/lib" "$dir/mail"
chmod 755 "$dir"
chmod 1777 "$dir/mail"
chown postfix "$dir/lib"
# The CA of the run: Postfix checks MX certificates against it under an enforced
# MTA-STS policy, the daemon checks the policy hosts' with it, and smtpspec signs both
# with its key (the profile's ca:). Made here because the MTA must trust it before
# the first case.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 2 -subj "/CN=smtpspec sender CA" \
  -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature 2>"$dir/openssl.log" ||
  { echo "postfix-mx: openssl could not make the CA:" >&2; cat "$dir/openssl.log" >&2; exit 1; }
# The policy daemon: no grace period (a case's TXT id is looked up every time) and no
# proactive fetching. Each MTA-STS case has its own domain, so what one case cached
# cannot answer for another.
cat > "$dir/mta-sts.yml" <<STS
host: 127.0.0.1
port: 8461
shutdown_timeout: 1
cache_grace: 0
cache: { type: internal, options: { cache_size: 1000 } }
default_zone: { strict_testing: false, timeout: 4, require_sni: true }
STS
cat > "$etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/lib
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.example.test
mydomain = example.test
myorigin = localhost
mydestination = localhost
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8, 192.0.2.66/32
# The relay of the self-MX cases (relay.example.test, 127.0.0.9) is this host.
proxy_interfaces = 127.0.0.9
# DANE (RFC 7672, the dns.dane cases): answers with the AD bit are validated, TLSA
# records of such hosts make TLS mandatory and authenticated; elsewhere TLS is
# opportunistic (the other cases' scripted servers offer no STARTTLS). The probe of
# the root zone at start is off: the fake DNS serves only the cases' zones.
smtp_dns_support_level = dnssec
dnssec_probe =
smtp_host_lookup = dns
smtp_address_preference = ipv4
smtp_tls_security_level = dane
# MTA-STS (RFC 8461, the dns.mta-sts cases): the daemon answers "secure match=..." for
# a domain with an enforced policy and nothing otherwise (then DANE or opportunistic).
smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix
smtp_tls_CAfile = $dir/ca.pem
smtp_tls_loglevel = 1
smtp_connect_timeout = 1s
smtp_helo_timeout = 3s
smtp_mail_timeout = 3s
smtp_rcpt_timeout = 3s
smtp_data_init_timeout = 3s
smtp_data_xfer_timeout = 3s
smtp_data_done_timeout = 3s
smtp_quit_timeout = 1s
alias_maps = hash:$etc/aliases
alias_database = hash:$etc/aliases
mail_spool_directory = $dir/mail/
maillog_file = $dir/maillog
maillog_file_prefixes = /var, /dev/stdout, $dir
CF
# SPF (RFC 7208) as a receiving MTA checks it, on the default listener: policyd-spf
# (pyspf) for the sender's domain at RCPT, so that the dns.hostile-lookups cases' SPF
# records are read. Its stock configuration skips loopback clients, the only ones here;
# this one skips none (192.0.2.255 is no client). Fail rejects, the rest is noted.
cat > "$dir/policyd-spf.conf" <<SPF
debugLevel = 1
TestOnly = 1
HELO_reject = Fail
Mail_From_reject = Fail
PermError_reject = False
TempError_Defer = False
skip_addresses = 192.0.2.255/32
SPF
chmod 644 "$dir/policyd-spf.conf"
# Messages come in through sendmail(1), and over SMTP for the relay and hostile-lookup
# cases: with the defaults (Postfix 3.7 reads a bare LF as a line end, and looks up
# every client's name), and hardened against smuggling.
cat > "$etc/master.cf" <<MASTER
127.0.0.1:2525 inet n - n - - smtpd -o smtpd_recipient_restrictions=check_policy_service,unix:private/policyd-spf
127.0.0.1:2526 inet n - n - - smtpd -o smtpd_forbid_bare_newline=reject -o smtpd_forbid_bare_newline_exclusions=
policyd-spf unix - n n - 0 spawn user=policyd-spf argv=/usr/bin/policyd-spf $dir/policyd-spf.conf
MASTER
grep -v '^#' "$(dirname "$0")/postfix-services.cf" >> "$etc/master.cf"
printf 'postmaster: root\n' > "$etc/aliases"
postalias -c "$etc" "hash:$etc/aliases"
postfix -c "$etc" check || { echo "postfix check failed; see $dir/maillog" >&2; cat "$dir/maillog" 2>/dev/null >&2; exit 1; }
ip netns exec "$ns" postfix -c "$etc" start \
  || { echo "postfix start failed; see $dir/maillog" >&2; cat "$dir/maillog" 2>/dev/null >&2; exit 1; }
# SSL_CERT_FILE replaces the system roots: the daemon trusts the run's CA only.
ip netns exec "$ns" env SSL_CERT_FILE="$dir/ca.pem" \
  "$sts_daemon" -c "$dir/mta-sts.yml" -l "$dir/mta-sts.log" -p "$dir/mta-sts.pid" &
for _ in $(seq 50); do
  ip netns exec "$ns" bash -c 'exec 3<>/dev/tcp/127.0.0.1/8461' 2>/dev/null && break
  sleep 0.1
done
ip netns exec "$ns" bash -c 'exec 3<>/dev/tcp/127.0.0.1/8461' 2>/dev/null \
  || { echo "postfix-mx: mta-sts-daemon did not start; see $dir/mta-sts.log" >&2; cat "$dir/mta-sts.log" 2>/dev/null >&2; exit 1; }

# Before each case: an empty queue, and a queue manager that has forgotten the hosts
# that failed in the last case (reload restarts qmgr).
for profile in postfix:2525 postfix-hardened:2526; do
  name=${profile%%:*}
  cat > "$dir/$name-sender.yaml" <<YAML
name: $name
dns: 127.0.0.1:53
port: 25
from: root@localhost
helo: relay.example.test
reset: [sh, -c, "postsuper -c $etc -d ALL >/dev/null 2>&1; postfix -c $etc reload >/dev/null 2>&1; sleep 0.5"]
inject: [sh, -c, "/usr/sbin/sendmail -C $etc -f '{from}' {to} < '{message}'"]
submit: 127.0.0.1:${profile##*:}
queued: [sh, -c, "postqueue -c $etc -p | grep -q '^[0-9A-F]'"]
settle: 6s
max_runs: 5
ca: { cert: $dir/ca.pem, key: $dir/ca.key }
YAML
done
case "${POSTFIX_MX_SENDER:-default}" in
  default) profile="$dir/postfix-sender.yaml"; cases="$(pwd)/scenarios/dns" ;;
  hardened) profile="$dir/postfix-hardened-sender.yaml"; cases="$(pwd)/scenarios/dns/relay-smuggling.yaml" ;;
  *) echo "postfix-mx: POSTFIX_MX_SENDER is default or hardened" >&2; exit 2 ;;
esac
echo "postfix-mx: Postfix $(postconf -d -h mail_version) sending from namespace $ns; profile $profile"
status=0
ip netns exec "$ns" "$bin" run "$cases" --sender "$profile" "$@" || status=$?
echo "postfix-mx: Postfix's own log of the deliveries is $dir/maillog; the MTA-STS daemon's $dir/mta-sts.log"
exit "$status"
