#!/usr/bin/env bash
# Start Postfix on loopback in five profiles from one instance, with its own config
# directory, spool and log, and write a target profile for each.
#
#   scripts/peers/postfix.sh start DIR [PORT_DEFAULT] [PORT_HARDENED] [PORT_FUZZ] [PORT_TLS] [PORT_PROXY]
#   scripts/peers/postfix.sh stop DIR
#
# default  (PORT_DEFAULT, 25251): Debian's defaults, STARTTLS included (Debian ships a
#          snakeoil certificate; here a self-signed one made with openssl).
# hardened (PORT_HARDENED, 25253): smtpd_helo_required=yes,
#          smtpd_forbid_bare_newline=reject with the loopback exclusion emptied.
# fuzz     (PORT_FUZZ, 25261): the default profile with its self-protection lifted, for
#          `smtpspec fuzz`: no error sleep (smtpd_error_sleep_time=0), error and junk
#          command limits out of reach (smtpd_soft/hard_error_limit,
#          smtpd_junk_command_limit), no in_flow_delay, no connection count or rate
#          limit, more smtpd processes, an ECDSA certificate (cheaper handshakes).
#          None of these changes what a reply says;
#          they stop Postfix from slowing down or hanging up on a client that errs.
# tls-required (PORT_TLS, 25262): the default profile with smtpd_tls_security_level
#          = encrypt, a port that requires STARTTLS before mail (RFC 3207 §4, as a
#          submission port does); its profile says `policy: { tls_required: true }`.
# proxy    (PORT_PROXY, 25263): the default profile behind a load balancer:
#          smtpd_upstream_proxy_protocol=haproxy, so every connection opens with a
#          PROXY header (v1 or v2); its profile says `proxy: v2`.
# Mail for the local domain is delivered to Maildirs under DIR/mail/ (the profiles name
# root's, so that expect_stored can look); nothing leaves the machine
# (default_transport and relay_transport are errors). Traps handled here:
# maillog_file under maillog_file_prefixes, no syslog, no
# systemd, chroot off.
set -euo pipefail

cmd=${1:?start|stop}
dir=$(realpath -m "${2:?DIR}")
p1=${3:-25251}
p2=${4:-25253}
p3=${5:-25261}
p4=${6:-25262}
p5=${7:-25263}
etc="$dir/etc"

case "$cmd" in
stop)
  postfix -c "$etc" stop 2>/dev/null || true
  exit 0
  ;;
start) ;;
*) echo "usage: $0 start|stop DIR [PORT_DEFAULT] [PORT_HARDENED] [PORT_FUZZ] [PORT_TLS] [PORT_PROXY]" >&2; exit 2 ;;
esac

command -v postfix >/dev/null || { echo "postfix missing: run scripts/peers/install.sh" >&2; exit 2; }
mkdir -p "$etc" "$dir/spool" "$dir/lib" "$dir/mail"
# Local delivery runs as the recipient (root's Maildir is DIR/mail/root/).
chmod 1777 "$dir/mail"
if [ ! -f "$etc/tls.crt" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=pfx.peers.test" \
    -keyout "$etc/tls.key" -out "$etc/tls.crt" 2>/dev/null
fi
# The fuzz profile's handshakes are many: an ECDSA P-256 key signs them for less.
if [ ! -f "$etc/tls-ec.crt" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=pfx.peers.test" -keyout "$etc/tls-ec.key" -out "$etc/tls-ec.crt" 2>/dev/null
fi
# Postfix's daemons run as the postfix user and must reach these (mktemp -d makes 0700).
chmod 755 "$dir"
chown postfix "$dir/lib"
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
myhostname = pfx.peers.test
mydomain = peers.test
myorigin = \$myhostname
mydestination = localhost, \$myhostname
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP \$mail_name (Debian/GNU)
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
default_transport = error:outbound disabled in test peers
relay_transport = error:outbound disabled in test peers
alias_maps = hash:$etc/aliases
alias_database = hash:$etc/aliases
local_recipient_maps = proxy:unix:passwd.byname \$alias_maps
mail_spool_directory = $dir/mail/
smtpd_tls_cert_file = $etc/tls.crt
smtpd_tls_key_file = $etc/tls.key
smtpd_tls_security_level = may
maillog_file = $dir/maillog
maillog_file_prefixes = /var, /dev/stdout, $dir
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
CF
cat > "$etc/master.cf" <<MF
127.0.0.1:$p1 inet n - n - - smtpd
127.0.0.1:$p2 inet n - n - - smtpd -o smtpd_helo_required=yes -o smtpd_forbid_bare_newline=reject -o smtpd_forbid_bare_newline_exclusions=
127.0.0.1:$p3 inet n - n - 200 smtpd -o smtpd_error_sleep_time=0 -o smtpd_soft_error_limit=100000 -o smtpd_hard_error_limit=100000 -o smtpd_junk_command_limit=100000 -o in_flow_delay=0s -o smtpd_client_connection_count_limit=0 -o smtpd_client_connection_rate_limit=0 -o smtpd_tls_cert_file=$etc/tls-ec.crt -o smtpd_tls_key_file=$etc/tls-ec.key
127.0.0.1:$p4 inet n - n - - smtpd -o smtpd_tls_security_level=encrypt
127.0.0.1:$p5 inet n - n - - smtpd -o smtpd_upstream_proxy_protocol=haproxy
MF
grep -v '^#' "$(dirname "$0")/postfix-services.cf" >> "$etc/master.cf"
printf 'postmaster: root\n' > "$etc/aliases"
postalias -c "$etc" "hash:$etc/aliases"
# Postfix reports fatal errors only to syslog, which this machine lacks: say so.
postfix -c "$etc" check || { echo "postfix check failed; see $dir/maillog" >&2; cat "$dir/maillog" 2>/dev/null >&2; exit 1; }
postfix -c "$etc" start || { echo "postfix start failed; see $dir/maillog" >&2; cat "$dir/maillog" 2>/dev/null >&2; exit 1; }
for port in "$p1" "$p2" "$p3" "$p4" "$p5"; do
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
done
for profile in default:$p1 hardened:$p2 fuzz:$p3 tls-required:$p4 proxy:$p5; do
  name=${profile%%:*}; port=${profile##*:}
  cat > "$dir/postfix-$name.yaml" <<YAML
name: Postfix $(postconf -d -h mail_version 2>/dev/null || echo 3) $name
address: 127.0.0.1:$port
domain: pfx.peers.test
rcpt: root@pfx.peers.test
bad_rcpt: smtpspec-no-such-user@pfx.peers.test
maildir: $dir/mail/root/
maildir_newlines: lf
watch:
  pid_file: $dir/spool/pid/master.pid
  logs:
    - path: $dir/maillog
YAML
done
printf 'policy:\n  tls_required: true\n' >> "$dir/postfix-tls-required.yaml"
printf 'proxy: v2\n' >> "$dir/postfix-proxy.yaml"
echo "postfix: default on 127.0.0.1:$p1, hardened on 127.0.0.1:$p2, fuzz on 127.0.0.1:$p3, tls-required on 127.0.0.1:$p4, proxy on 127.0.0.1:$p5; profiles in $dir"
