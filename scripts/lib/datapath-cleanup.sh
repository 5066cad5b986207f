# shellcheck shell=bash
# datapath_cleanup: removes what Shoal daemons running in this network namespace made for
# overlay networks (VXLAN devices shoalvx*, the nftables table `ip shoal`), for a test's EXIT
# trap: a daemon killed with -9 leaves them behind (a daemon that leaves the swarm, or sees its
# last task of a network go, removes them itself). Never fails.
datapath_cleanup() {
  local dev
  for dev in $(ip -o link show type vxlan 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep '^shoalvx' || true); do
    ip link del "$dev" 2>/dev/null || true
  done
  nft delete table ip shoal 2>/dev/null || true
  return 0
}
