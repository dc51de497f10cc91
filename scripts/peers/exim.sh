#!/usr/bin/env bash
# Start Exim 4.96 on loopback as the mail server of a small domain, with its own
# config, spool and log in DIR, and write a target profile DIR/exim.yaml.
#
#   scripts/peers/exim.sh start DIR [PORT] [lifted]     (PORT 25255)
#   scripts/peers/exim.sh stop DIR
#
# `lifted` is Exim for fuzzing: the limits that make it refuse or drop sessions of a
# fast client are off (smtp_accept_max 0: no connection limit, where 20 connections
# at once, counted until the daemon reaps the child, refused most sessions of a
# campaign; a million syntax errors, unknown or non-mail commands, where 0 would
# mean none; no synchronisation enforcement). The fuzzer reports throttling
# apart either way; lifted, it spends its sessions on the protocol instead.
#
# Exim runs from the packages scripts/peers/install.sh unpacks into
# ${SMTPSPEC_PEERS:-/opt/smtpspec-peers}/exim (apt would remove Postfix). The
# configuration is Exim's own example configuration (usr/share/doc/exim4-base/
# examples/example.conf in the package) cut down to one local domain; what differs
# from it, and why, is said next to each line of the exim.conf written below. Exim's
# defaults are left alone (smtp_accept_max 20, smtp_accept_queue_per_connection 10,
# message_size_limit 50M, smtp_enforce_sync, CHUNKING, PIPELINING, 8BITMIME,
# SMTPUTF8 ...): the peer shows Exim as shipped, not Exim tuned to the catalogue.
#
# - domain exim.peers.test: alice@ has a Maildir, postmaster@ is an alias of alice,
#   other local parts are refused at RCPT (550 Unknown user), other domains too
#   (relay not permitted): nothing is routed off the machine;
# - STARTTLS with a self-signed certificate for exim.peers.test (openssl);
# - AUTH PLAIN and LOGIN, offered after STARTTLS only, for alice / wonderland;
# - accepted mail is delivered by appendfile in maildir format into DIR/Maildir
#   (LF line ends; Return-path, Envelope-to and Delivery-date added, as the stock
#   local_delivery transport does).
# Traps handled here: user Debian-exim,
# exim_path and keep_environment = LD_LIBRARY_PATH for the unpacked binary, spool,
# log and pid paths owned by Debian-exim, no DNS or ident lookups of clients, and an
# untainted delivery path with a home directory.
set -euo pipefail

cmd=${1:?start|stop}
dir=$(realpath -m "${2:?DIR}")
port=${3:-25255}
limits="# Exim's defaults for connection and error limits."
if [ "${4:-}" = lifted ]; then
  limits="# Lifted for fuzzing (scripts/peers/exim.sh ... lifted).
smtp_accept_max = 0
smtp_max_synprot_errors = 1000000
smtp_max_unknown_commands = 1000000
smtp_accept_max_nonmail = 1000000
smtp_enforce_sync = false"
fi
root=${SMTPSPEC_PEERS:-/opt/smtpspec-peers}/exim
exim=$root/usr/sbin/exim4
export LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu

stop() {
  local pid
  pid=$(cat "$dir/exim.pid" 2>/dev/null) || return 0
  # Only an Exim of this DIR: a stale pid file must not kill an unrelated process.
  if [ -n "$pid" ] && grep -qs "$dir/exim.conf" "/proc/$pid/cmdline"; then
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/exim.pid"
}

case "$cmd" in
stop) stop; exit 0 ;;
start) ;;
*) echo "usage: $0 start DIR [PORT] [lifted] | stop DIR" >&2; exit 2 ;;
esac

[ -x "$exim" ] || { echo "$exim missing: run scripts/peers/install.sh" >&2; exit 2; }
id Debian-exim >/dev/null 2>&1 || { echo "user Debian-exim missing: run scripts/peers/install.sh" >&2; exit 2; }
# A restart picks up a new exim.conf.
stop
# Another listener on the port would answer the readiness probe below, while this
# Exim keeps retrying its bind (daemon_startup_retries) without writing a pid file.
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "exim: 127.0.0.1:$port is already in use" >&2
  exit 1
fi
mkdir -p "$dir/spool" "$dir/log" "$dir/Maildir"/{tmp,new,cur}
# Exim drops to Debian-exim and must reach these (mktemp -d makes 0700).
chmod 755 "$dir"
chown -R Debian-exim:Debian-exim "$dir/spool" "$dir/log" "$dir/Maildir"
if [ ! -f "$dir/tls.crt" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=exim.peers.test" \
    -addext "subjectAltName=DNS:exim.peers.test" \
    -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
fi
# Read by the receiving process, which runs as Debian-exim.
chown Debian-exim:Debian-exim "$dir/tls.key" "$dir/tls.crt"
chmod 600 "$dir/tls.key"
printf 'postmaster: alice\n' > "$dir/aliases"

cat > "$dir/exim.conf" <<CONF
# Written by scripts/peers/exim.sh; based on Exim's example.conf.
primary_hostname = exim.peers.test
domainlist local_domains = exim.peers.test
domainlist relay_to_domains =
# example.conf relays for localhost; every client of this peer is on loopback, so
# that would make it an open relay to the catalogue. No relaying at all.
hostlist   relay_from_hosts =

exim_user = Debian-exim
exim_group = Debian-exim
never_users = root
# The unpacked binary, not /usr/sbin/exim4, for the re-exec that delivers; and the
# library path it needs kept across that re-exec.
exim_path = $exim
keep_environment = LD_LIBRARY_PATH
spool_directory = $dir/spool
log_file_path = $dir/log/%slog
pid_file_path = $dir/exim.pid
local_interfaces = 127.0.0.1
daemon_smtp_ports = $port
# example.conf looks up every client's name (host_lookup = *); a loopback test peer
# has no DNS to ask. No ident (RFC 1413) callbacks either.
host_lookup =
rfc1413_hosts =

acl_smtp_rcpt = acl_check_rcpt
.ifdef _HAVE_PRDR
acl_smtp_data_prdr = acl_check_prdr
prdr_enable = true
.endif
acl_smtp_data = acl_check_data

# example.conf relies on Exim's generated certificate; an operator installs one.
tls_certificate = $dir/tls.crt
tls_privatekey = $dir/tls.key
.ifdef _HAVE_OPENSSL
tls_require_ciphers = ECDSA:RSA:!COMPLEMENTOFDEFAULT
.endif
.ifdef _HAVE_TLS_RESUME
tls_resumption_hosts = \${if inlist {\$received_port}{587:465} {:}{*}}
.endif
dns_dnssec_ok = 1

$limits

log_selector = +smtp_protocol_error +smtp_syntax_error +tls_certificate_verified
ignore_bounce_errors_after = 2d
timeout_frozen_after = 7d

begin acl

acl_check_rcpt:
  accept  hosts = :
          control = dkim_disable_verify
  deny    message       = Restricted characters in address
          domains       = +local_domains
          local_parts   = ^[.] : ^.*[@%!/|]
  deny    message       = Restricted characters in address
          domains       = !+local_domains
          local_parts   = ^[./|] : ^.*[@%!] : ^.*/\\\\.\\\\./
  accept  local_parts   = postmaster
          domains       = +local_domains
  # example.conf verifies the sender here (require verify = sender), which looks up
  # the sender's domain in the DNS: left out, the peer has no DNS to ask.
  deny    condition     = \${if and {\\
                        {>{\$rcpt_count}{10}}\\
                        {<{\$recipients_count}{\${eval:\$rcpt_count/2}}} }}
          message       = Rejected for too many bad recipients
          logwrite      = REJECT [\$sender_host_address]: bad recipient count high [\${eval:\$rcpt_count-\$recipients_count}]
  # example.conf accepts any recipient from relay_from_hosts and from authenticated
  # clients (submission); this peer receives for its domain only.
  require message = relay not permitted
          domains = +local_domains : +relay_to_domains
  require verify = recipient
  accept

.ifdef _HAVE_PRDR
acl_check_prdr:
  warn  set acl_m_did_prdr = y
  accept
.endif

acl_check_data:
  deny    condition  = \${if > {\$max_received_linelength}{998}}
          message    = maximum allowed line length is 998 octets, \\
                       got \$max_received_linelength
  deny    !verify =     header_syntax
          message =     header syntax
          log_message = header syntax (\$acl_verify_message)
  accept

begin routers

# example.conf's dnslookup (or smarthost) router is left out: nothing leaves the
# machine. Addresses outside exim.peers.test never get past the RCPT ACL anyway. So
# are its userforward router (no system users receive mail here) and the transports
# only those use (remote_smtp, smarthost_smtp, address_pipe, address_file,
# address_reply).
system_aliases:
  driver = redirect
  domains = +local_domains
  allow_fail
  allow_defer
  data = \${lookup{\$local_part}lsearch{$dir/aliases}}

# Instead of check_local_user and /var/mail: one virtual mailbox, alice.
localuser:
  driver = accept
  domains = +local_domains
  local_parts = alice
  transport = local_delivery
  cannot_route_message = Unknown user

begin transports

# A fixed directory (a path built from \$local_part is tainted and refused), the
# Maildir the profile names; user and home because no system user owns it.
local_delivery:
  driver = appendfile
  directory = $dir/Maildir
  maildir_format
  delivery_date_add
  envelope_to_add
  return_path_add
  user = Debian-exim
  group = Debian-exim
  home_directory = $dir/Maildir
  current_directory = $dir/Maildir

begin retry

*                      *           F,2h,15m; G,16h,1h,1.5; F,4d,6h

begin rewrite

begin authenticators

# The plaintext examples of Exim's spec (chapter 34, "The plaintext authenticator"),
# offered only on a TLS connection as Debian's configuration does.
plain:
  driver = plaintext
  public_name = PLAIN
  server_advertise_condition = \${if def:tls_in_cipher}
  server_prompts = :
  server_condition = \${if and {{eq{\$auth2}{alice}}{eq{\$auth3}{wonderland}}}}
  server_set_id = \$auth2

login:
  driver = plaintext
  public_name = LOGIN
  server_advertise_condition = \${if def:tls_in_cipher}
  server_prompts = Username:: : Password::
  server_condition = \${if and {{eq{\$auth1}{alice}}{eq{\$auth2}{wonderland}}}}
  server_set_id = \$auth1
CONF

# Exim reports a bad configuration on standard error and in the paniclog: say where.
"$exim" -C "$dir/exim.conf" -bV >/dev/null 2>"$dir/exim.check" ||
  { echo "exim: $dir/exim.conf is refused:" >&2; cat "$dir/exim.check" >&2; exit 1; }

# -bdf: the daemon stays in the foreground of its own session (setsid), like
# postfix.sh's start-fg; -q30m: a queue run every 30 minutes, Debian's default
# (QUEUEINTERVAL), for what was queued instead of delivered at once.
setsid "$exim" -C "$dir/exim.conf" -bdf -q30m >"$dir/exim.out" 2>&1 </dev/null &
daemon=$!
# setsid execs in place here (a background job is no group leader), so this is the
# daemon's pid; written now so that stop works even before Exim writes the file.
echo "$daemon" > "$dir/exim.pid"
ready=
for _ in $(seq 100); do
  kill -0 "$daemon" 2>/dev/null || break
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ready=1; break; fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "exim did not listen on 127.0.0.1:$port; $dir/exim.out, $dir/log/paniclog:" >&2
  tail -n 20 "$dir/exim.out" "$dir/log/paniclog" >&2 2>/dev/null || true
  stop
  exit 1
fi

cat > "$dir/exim.yaml" <<YAML
# Exim 4.96 started by scripts/peers/exim.sh start $dir $port
name: Exim 4.96${4:+ $4}
address: 127.0.0.1:$port
domain: exim.peers.test
rcpt: alice@exim.peers.test
bad_rcpt: nosuchuser@exim.peers.test
user: alice
password: wonderland
maildir: $dir/Maildir
maildir_newlines: lf
# For smtpspec fuzz, what this configuration refuses: AUTH is offered after STARTTLS
# only, and no domain but exim.peers.test is taken (relay_to_domains is empty).
policy:
  auth_requires_tls: true
  foreign_domains: [relay-test.invalid]
# For smtpspec fuzz: the daemon's process group, its main log's crash marks, and
# the paniclog, where every line is a panic but one: this daemon runs with -C, so
# each delivery it starts logs that it dropped privilege for it.
watch:
  pid_file: $dir/exim.pid
  logs:
    - path: $dir/log/mainlog
    - path: $dir/log/paniclog
      patterns: [""]
      ignore: ["lost privilege for using -C option"]
    - path: $dir/exim.out
YAML
echo "exim: 127.0.0.1:$port (pid $daemon), profile $dir/exim.yaml"
