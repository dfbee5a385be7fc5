#!/usr/bin/env bash
# Regenerates the real-traffic pcap fixtures in native-free-fixtures/.
#
# Two network namespaces joined by one veth pair with fixed MACs:
#   ns1  fx1  02:77:00:00:00:01  10.77.0.1/24  fd77::1/64
#   ns2  fx2  02:77:00:00:00:02  10.77.0.2/24  fd77::2/64
# tcpdump runs inside ns1 on fx1 (one file per scenario, BPF-filtered to that scenario so
# IPv6 multicast-listener chatter never leaks in) while ping / node generate the traffic.
# TSO/GSO is capped to one segment on both ends so TCP frames are wire-sized (<= 1514 B),
# not 64 KiB super-frames; IPv6 DAD and router solicitations are off so nothing waits.
#
# Needs: root, ip (iproute2), tcpdump, ping (iputils-ping: `apt-get install iputils-ping`),
# node, timeout. Usage: sudo scripts/capture-fixtures.sh [OUTDIR]   (default: native-free-fixtures)
# Every child runs under `timeout`; the trap removes namespaces and kills children on any exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/../native-free-fixtures"}
mkdir -p "$out"
out=$(cd "$out" && pwd)

die() { echo "capture-fixtures: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, tcpdump)"
for tool in ip tcpdump ping node timeout; do
  command -v "$tool" >/dev/null || die "missing '$tool' (ping: apt-get install iputils-ping)"
done

suffix=$$
ns1="tffx1-$suffix"
ns2="tffx2-$suffix"
work=$(mktemp -d /tmp/tapflow-fixtures.XXXXXX)

cleanup() {
  local rc=$?
  # Only this shell's still-running background jobs (tcpdump / node servers under timeout).
  local live
  live=$(jobs -p)
  if [ -n "$live" ]; then
    kill -TERM $live 2>/dev/null || true
    wait $live 2>/dev/null || true
  fi
  ip netns del "$ns1" 2>/dev/null || true
  ip netns del "$ns2" 2>/dev/null || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

in1() { ip netns exec "$ns1" "$@"; }
in2() { ip netns exec "$ns2" "$@"; }

# --- topology --------------------------------------------------------------------------
ip netns add "$ns1"
ip netns add "$ns2"
ip link add fx1 address 02:77:00:00:00:01 netns "$ns1" type veth \
  peer name fx2 address 02:77:00:00:00:02 netns "$ns2"
for pair in "$ns1 fx1 1" "$ns2 fx2 2"; do
  set -- $pair
  ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.router_solicitations=0"
  ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.dad_transmits=0"
  ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.accept_ra=0"
  ip netns exec "$1" ip link set "$2" gso_max_segs 1 gso_max_size 1500
  ip netns exec "$1" ip addr add "10.77.0.$3/24" dev "$2"
  ip netns exec "$1" ip addr add "fd77::$3/64" dev "$2" nodad
  ip netns exec "$1" ip link set lo up
  ip netns exec "$1" ip link set "$2" up
done
# Let link-up chatter (MLD reports) pass before the first capture.
sleep 1

# --- traffic helper (node, no npm deps) --------------------------------------------------
cat >"$work/tool.js" <<'EOF'
'use strict';
const [mode, host, portS, arg] = process.argv.slice(2);
const port = Number(portS);
const fs = require('fs');
const bail = setTimeout(() => { console.error(`tool ${mode}: timed out`); process.exit(2); }, 15000);
const done = () => { clearTimeout(bail); };
if (mode === 'http-serve') {
  // Serves one GET, then exits. `arg` = file created once listening.
  const http = require('http');
  const body = 'hello from tapflow fixtures\n';
  const s = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length, Connection: 'close' });
    res.end(body, () => { s.close(); done(); });
  });
  s.listen(port, host, () => fs.writeFileSync(arg, 'ready'));
} else if (mode === 'http-get') {
  const http = require('http');
  http.get({ host, port, path: '/index.txt', agent: false, headers: { Connection: 'close' } }, (res) => {
    res.resume();
    res.on('end', done);
  }).on('error', (e) => { console.error(e.message); process.exit(1); });
} else if (mode === 'bulk-serve') {
  // Sends `n` bytes to one client, then closes. argv[6] = ready file.
  const net = require('net');
  const n = Number(arg);
  const s = net.createServer((c) => {
    const buf = Buffer.alloc(n);
    for (let i = 0; i < n; i++) buf[i] = 0x20 + (i % 95);
    c.end(buf);
    c.on('close', () => { s.close(); done(); });
  });
  s.listen(port, host, () => fs.writeFileSync(process.argv[6], 'ready'));
} else if (mode === 'bulk-get') {
  const net = require('net');
  let got = 0;
  const c = net.connect(port, host);
  c.on('data', (d) => { got += d.length; });
  c.on('end', () => { c.end(); if (got !== Number(arg)) { console.error(`got ${got}`); process.exit(1); } done(); });
  c.on('error', (e) => { console.error(e.message); process.exit(1); });
} else if (mode === 'udp-echo') {
  // Echoes `arg` datagrams back, then exits. argv[6] = ready file.
  const dgram = require('dgram');
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  let left = Number(arg);
  s.on('message', (m, r) => s.send(m, r.port, r.address, () => { if (--left === 0) { s.close(); done(); } }));
  s.bind(port, host, () => fs.writeFileSync(process.argv[6], 'ready'));
} else if (mode === 'udp-send') {
  // Sends one datagram of each size in `arg` (comma list), waiting for an echo or 300 ms.
  const dgram = require('dgram');
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const sizes = arg.split(',').map(Number);
  let i = 0;
  let timer = null;
  const next = () => {
    if (timer) clearTimeout(timer);
    if (i === sizes.length) { s.close(); done(); return; }
    const b = Buffer.alloc(sizes[i++]);
    for (let k = 0; k < b.length; k++) b[k] = k & 0xff;
    s.send(b, port, host);
    timer = setTimeout(next, 300);
  };
  s.on('message', next);
  s.on('error', () => {}); // ICMP port unreachable surfaces as ECONNREFUSED on some paths
  s.bind(0, next);
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(1);
}
EOF

wait_file() { # wait up to 5 s for a file to appear
  local i
  for i in $(seq 50); do [ -e "$1" ] && return 0; sleep 0.1; done
  die "timed out waiting for $1"
}

# --- capture harness ---------------------------------------------------------------------
cap_pid=""
cap_start() { # cap_start NAME FILTER
  local name=$1 filter=$2 i
  rm -f "$work/cap.err"
  # Started directly (not through a shell function) so $! is tcpdump's own `timeout`,
  # which forwards SIGTERM; --immediate-mode so no packet waits in a TPACKET_V3 block.
  ip netns exec "$ns1" timeout 60 tcpdump -i fx1 -n -U --immediate-mode -B 16384 -Z root -s 262144 \
    -w "$out/$name.pcap" "$filter" 2>"$work/cap.err" &
  cap_pid=$!
  for i in $(seq 50); do
    grep -q 'listening on' "$work/cap.err" 2>/dev/null && return 0
    sleep 0.1
  done
  die "tcpdump did not start for $name: $(cat "$work/cap.err")"
}
cap_stop() { # cap_stop NAME
  sleep 0.3
  kill -TERM "$cap_pid" 2>/dev/null || true
  wait "$cap_pid" 2>/dev/null || true
  local n dropped
  dropped=$(sed -n 's/^\([0-9]*\) packets* dropped by kernel$/\1/p' "$work/cap.err")
  [ "${dropped:-0}" = 0 ] || die "$1.pcap: tcpdump lost $dropped packets; run again"
  n=$(timeout 10 tcpdump -r "$out/$1.pcap" -n 2>/dev/null | wc -l)
  printf '  %-28s %4d frames  %7d bytes\n' "$1.pcap" "$n" "$(stat -c %s "$out/$1.pcap")"
  [ "$n" -gt 0 ] || die "$1.pcap captured nothing"
  manifest+=("\"$1.pcap\": $n")
}
manifest=()
flush_neigh() { in1 ip neigh flush dev fx1; in2 ip neigh flush dev fx2; }

echo "capturing into $out"

# ARP request + reply: neighbor tables flushed, one ping resolves 10.77.0.2.
flush_neigh
cap_start arp 'arp'
in1 timeout 5 ping -c 1 -W 2 -q 10.77.0.2 >/dev/null
cap_stop arp

# ICMPv4 echo request/reply x3 (neighbors already resolved).
cap_start icmp4-echo 'icmp'
in1 timeout 10 ping -c 3 -i 0.2 -W 2 -q 10.77.0.2 >/dev/null
cap_stop icmp4-echo

# ICMPv6 neighbor solicitation/advertisement, then echo request/reply x3.
flush_neigh
cap_start icmp6-echo-nd 'icmp6'
in1 timeout 10 ping -6 -c 3 -i 0.2 -W 2 -q fd77::2 >/dev/null
cap_stop icmp6-echo-nd

# TCP handshake + HTTP/1.1 GET + response + FIN both ways, over IPv4 and IPv6.
for v in 4 6; do
  if [ "$v" = 4 ]; then addr=10.77.0.2; else addr=fd77::2; fi
  rm -f "$work/ready"
  ip netns exec "$ns2" timeout 20 node "$work/tool.js" http-serve "$addr" 8080 "$work/ready" &
  srv=$!
  wait_file "$work/ready"
  cap_start "tcp$v-http" "ip$( [ "$v" = 6 ] && echo 6 ) and tcp port 8080"
  in1 timeout 20 node "$work/tool.js" http-get "$addr" 8080
  wait "$srv"
  cap_stop "tcp$v-http"
done

# A 48 KiB TCP transfer (wire-sized segments, window updates, FIN).
rm -f "$work/ready"
ip netns exec "$ns2" timeout 20 node "$work/tool.js" bulk-serve 10.77.0.2 8081 49152 "$work/ready" &
srv=$!
wait_file "$work/ready"
cap_start tcp4-bulk 'tcp port 8081'
in1 timeout 20 node "$work/tool.js" bulk-get 10.77.0.2 8081 49152
wait "$srv"
cap_stop tcp4-bulk

# UDP datagrams of several sizes (1472 = largest unfragmented IPv4 payload), echoed back.
sizes4=1,64,512,1472
sizes6=1,64,512,1452
for v in 4 6; do
  if [ "$v" = 4 ]; then addr=10.77.0.2; sizes=$sizes4; else addr=fd77::2; sizes=$sizes6; fi
  rm -f "$work/ready"
  ip netns exec "$ns2" timeout 20 node "$work/tool.js" udp-echo "$addr" 9999 4 "$work/ready" &
  srv=$!
  wait_file "$work/ready"
  cap_start "udp$v" "ip$( [ "$v" = 6 ] && echo 6 ) and udp port 9999"
  in1 timeout 20 node "$work/tool.js" udp-send "$addr" 9999 "$sizes"
  wait "$srv"
  cap_stop "udp$v"
done

# IPv4 fragments: 3000-byte echo payload over MTU 1500, DF clear -> 3 fragments each way.
cap_start ipv4-fragments 'ip proto 1'
in1 timeout 10 ping -c 2 -i 0.2 -W 2 -s 3000 -M dont -q 10.77.0.2 >/dev/null
cap_stop ipv4-fragments

# IPv4 options: ping -R (Record Route, IHL 15) request and reply.
cap_start ipv4-options 'icmp'
in1 timeout 10 ping -R -c 2 -i 0.2 -W 2 -q 10.77.0.2 >/dev/null
cap_stop ipv4-options

# ICMP port unreachable: UDP to a closed port, the peer answers ICMP type 3 code 3.
cap_start icmp4-port-unreachable 'udp or icmp'
in1 timeout 20 node "$work/tool.js" udp-send 10.77.0.2 33434 32,100
cap_stop icmp4-port-unreachable

# Frame counts as tcpdump reads them; the tests check every reader against these.
{
  echo '{'
  for i in "${!manifest[@]}"; do
    sep=','; [ "$i" = $(( ${#manifest[@]} - 1 )) ] && sep=''
    echo "  ${manifest[$i]}$sep"
  done
  echo '}'
} >"$out/frame-counts.json"

echo "done: $(du -cb "$out"/*.pcap | tail -1 | cut -f1) bytes total"
