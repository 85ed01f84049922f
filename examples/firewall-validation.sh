#!/usr/bin/env bash
# Validating a firewall with `serve` on the far side and `check` on the near side: the two
# commands, as IT staff run them. Not run by the tests (it needs two machines); replace the
# host. Both sides share the token (from a secret store, never the command line).
set -euo pipefail
export TRTC_PREFLIGHT_TOKEN="${TRTC_PREFLIGHT_TOKEN:?set the shared token first}"

case "${1:-}" in
  far)
    # On a machine beyond the firewall (ports below 1024 need root or CAP_NET_BIND_SERVICE). It
    # prints its listeners and the TLS pin for the near side.
    exec trtc-preflight serve \
      --stun-udp 8000,8080,8800,843,443,16285 --stun-tcp 8687 --stun-tls 443 \
      --signal-wss 8443
    ;;
  near)
    # On the machine whose network is in question, with the pin the far side printed.
    exec trtc-preflight check --profile examples/firewall.toml \
      --resolve preflight.example.com="${FAR_ADDRESS:?the address of the far side}" \
      --peer wss://preflight.example.com:8443/ --pin "${PIN:?the pin serve printed}" \
      --format text --format junit --output firewall.xml --format html --output firewall.html
    ;;
  *)
    echo "usage: $0 far | near   (FAR_ADDRESS and PIN for near)" >&2
    exit 2
    ;;
esac
