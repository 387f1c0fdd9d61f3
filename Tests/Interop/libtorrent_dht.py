#!/usr/bin/python3
"""Drives a libtorrent DHT session against a flud network on 127.0.0.1, for
flud's interoperability tests (run by FludCLITests, needs Debian's
python3-libtorrent). The session bootstraps only into the given flud node.

Each action prints one JSON line:
  (always, first)                     {"op":"bootstrapped"}
  --put-immutable TEXT                {"op":"put_immutable","target":HEX,"stored":N}
  --get-immutable TARGET              {"op":"get_immutable","value":TEXT}
  --put-mutable SEED PK SALT TEXT     {"op":"put_mutable","seq":N,"stored":N}  (SEED, PK: hex)
  --get-mutable PK SALT               {"op":"get_mutable","value":TEXT,"seq":N}
"""
import argparse
import hashlib
import json
import sys
import time

import libtorrent as lt


def session(bootstrap):
    host, port = bootstrap.rsplit(":", 1)
    ses = lt.session({
        "enable_dht": True,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "listen_interfaces": "127.0.0.1:0",
        "dht_bootstrap_nodes": "",
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_block_ratelimit": 100000,
        "alert_mask": lt.alert.category_t.all_categories,
    })
    ses.add_dht_node((host, int(port)))
    return ses


def wait_for(ses, kind, predicate=lambda alert: True, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        ses.wait_for_alert(200)
        for alert in ses.pop_alerts():
            if isinstance(alert, kind) and predicate(alert):
                return alert
    sys.exit(f"libtorrent: no {kind.__name__} within {seconds} s")


def text(item):
    value = item["value"] if isinstance(item, dict) else item
    return value.decode() if isinstance(value, bytes) else str(value)


def libtorrent_secret(seed):
    """libtorrent's 64-byte Ed25519 secret: the clamped SHA-512 of the seed
    (libsodium's is seed || public key instead)."""
    expanded = bytearray(hashlib.sha512(seed).digest())
    expanded[0] &= 248
    expanded[31] &= 63
    expanded[31] |= 64
    return bytes(expanded)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--put-immutable")
    parser.add_argument("--get-immutable")
    parser.add_argument("--put-mutable", nargs=4)
    parser.add_argument("--get-mutable", nargs=2)
    parser.add_argument("--expect-nodes", type=int, default=1,
                        help="wait until this many nodes have answered libtorrent's own queries")
    args = parser.parse_args()
    ses = session(args.bootstrap)
    # Wait until flud nodes are in libtorrent's routing table: libtorrent adds
    # a node only once it has answered one of libtorrent's queries (its pings,
    # find_node and get_peers of its bootstrap).
    deadline = time.time() + 20
    while True:
        ses.post_dht_stats()
        stats = wait_for(ses, lt.dht_stats_alert)
        known = sum(bucket["num_nodes"] for bucket in stats.routing_table)
        if known >= args.expect_nodes:
            break
        if time.time() > deadline:
            sys.exit(f"libtorrent: {known} of {args.expect_nodes} flud nodes answered within 20 s")
        time.sleep(0.1)
    print(json.dumps({"op": "bootstrapped", "nodes": known}), flush=True)
    if args.put_immutable is not None:
        target = ses.dht_put_immutable_item(args.put_immutable.encode())
        alert = wait_for(ses, lt.dht_put_alert, lambda a: a.target == target)
        print(json.dumps({"op": "put_immutable", "target": str(target), "stored": alert.num_success}), flush=True)
    if args.get_immutable is not None:
        target = lt.sha1_hash(bytes.fromhex(args.get_immutable))
        ses.dht_get_immutable_item(target)
        alert = wait_for(ses, lt.dht_immutable_item_alert, lambda a: a.target == target)
        print(json.dumps({"op": "get_immutable", "value": text(alert.item)}), flush=True)
    if args.put_mutable is not None:
        seed, public, salt, value = args.put_mutable
        secret = libtorrent_secret(bytes.fromhex(seed))
        ses.dht_put_mutable_item(secret, bytes.fromhex(public), value.encode(), salt.encode())
        alert = wait_for(ses, lt.dht_put_alert, lambda a: bytes(a.public_key) == bytes.fromhex(public))
        print(json.dumps({"op": "put_mutable", "seq": alert.seq, "stored": alert.num_success}), flush=True)
    if args.get_mutable is not None:
        public, salt = args.get_mutable
        ses.dht_get_mutable_item(bytes.fromhex(public), salt.encode())
        alert = wait_for(ses, lt.dht_mutable_item_alert, lambda a: a.authoritative, seconds=30)
        print(json.dumps({"op": "get_mutable", "value": text(alert.item), "seq": alert.seq}), flush=True)


if __name__ == "__main__":
    main()
