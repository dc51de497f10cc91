# Sourced by postfix-mx.sh and exim-mx.sh: a network namespace with only a loopback
# interface (which also holds 192.0.2.66, below) whose resolver is 127.0.0.1
# inside it (glibc's resolver only asks port 53,
# so the fake DNS answers there). `ip netns exec` bind-mounts /etc/netns/NS/* over
# /etc/*; the root namespace's resolv.conf is never touched.

# netns_up NS: make NS afresh (a leftover of an earlier run is removed first).
netns_up() {
  netns_down "$1"
  ip netns add "$1"
  ip netns exec "$1" ip link set lo up
  # 192.0.2.66 (TEST-NET-1, RFC 5737) on the loopback interface: a client address that
  # is not in 127.0.0.0/8, for the hostile-lookup cases (`source: 192.0.2.66`);
  # libspf2 passes every 127.0.0.0/8 client without reading the SPF record. Nothing
  # leaves the namespace: loopback is its only interface.
  ip netns exec "$1" ip addr add 192.0.2.66/32 dev lo
  mkdir -p "/etc/netns/$1"
  # trust-ad: glibc passes the AD bit of the (local, trusted) resolver on to the
  # program, which a DANE sender needs; without it glibc clears the bit.
  printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1 trust-ad\n' > "/etc/netns/$1/resolv.conf"
  printf '127.0.0.1 localhost\n' > "/etc/netns/$1/hosts"
}

# netns_down NS: remove NS and its files, if any.
netns_down() {
  ip netns del "$1" 2>/dev/null || true
  rm -rf "/etc/netns/$1"
}
