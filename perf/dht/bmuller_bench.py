"""The scenario of `flud bench dht`, run with bmuller/kademlia (PyPI `kademlia`
2.2.3) for comparison: NODES nodes in one asyncio process on 127.0.0.1, KEYS
puts and gets one at a time, gets at concurrency 32, then 30 % of the nodes
stop without a goodbye and every key is got twice more. Prints one JSON object
per phase with the same fields as `flud bench dht --json`.

usage: python bmuller_bench.py [NODES] [KEYS] [KEYS_AFTER_KILL]

KEYS_AFTER_KILL (default KEYS) bounds the gets after the kill: each one waits
out rpcudp's 5 s timeout on the dead nodes it meets, so 500 of them take an hour.
"""
import asyncio
import json
import logging
import random
import sys
import time

from kademlia.network import Server
from rpcudp.protocol import RPCProtocol

logging.disable(logging.CRITICAL)
REQUESTS_SENT = 0


class CountingTransport:
    """Counts the requests a protocol sends (rpcudp marks them with a 0 byte)."""

    def __init__(self, transport):
        self._transport = transport

    def sendto(self, data, address):
        global REQUESTS_SENT
        if data[:1] == b"\x00":
            REQUESTS_SENT += 1
        self._transport.sendto(data, address)

    def __getattr__(self, name):
        return getattr(self._transport, name)


_connection_made = RPCProtocol.connection_made
RPCProtocol.connection_made = lambda self, transport: _connection_made(self, CountingTransport(transport))


async def measure(name, count, concurrency, operation):
    global REQUESTS_SENT
    before = REQUESTS_SENT
    latencies = [0.0] * count
    outcomes = [False] * count
    next_index = 0

    async def lane():
        nonlocal next_index
        while next_index < count:
            index = next_index
            next_index += 1
            start = time.perf_counter()
            outcomes[index] = await operation(index)
            latencies[index] = time.perf_counter() - start

    start = time.perf_counter()
    cpu_start = time.process_time()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    ordered = sorted(latencies)
    print(json.dumps({
        "phase": name, "n": count,
        "success": round(sum(outcomes) / count, 3),
        "p50_ms": round(ordered[count // 2] * 1000, 2),
        "p99_ms": round(ordered[min(count - 1, count * 99 // 100)] * 1000, 2),
        "ops_per_s": round(count / elapsed),
        "msgs_per_lookup": round((REQUESTS_SENT - before) / count, 1),
        "cpu_us_per_op": round(cpu * 1e6 / count),
        "implementation": "bmuller/kademlia 2.2.3",
    }), flush=True)


async def main(nodes, keys, keys_after_kill):
    base = 30000 + random.randrange(0, 20000)
    network = []
    for index in range(nodes):
        server = Server()
        await server.listen(base + index, interface="127.0.0.1")
        network.append(server)
    for server in network[1:]:
        await server.bootstrap([("127.0.0.1", base)])

    items = [(f"bench key {i}", f"flud bench dht item {i}") for i in range(keys)]
    origins = [random.randrange(nodes) for _ in items]
    readers = [random.randrange(nodes) for _ in items]

    async def put(i):
        return bool(await network[origins[i]].set(*items[i]))

    async def get(i, reader):
        return await network[reader(i)].get(items[i][0]) == items[i][1]

    await measure("put", keys, 1, put)
    await measure("get", keys, 1, lambda i: get(i, lambda j: readers[j]))
    # Each item ten times, as flud's bench does: one pass is too short to time.
    await measure("get_concurrent", keys * 10, 32, lambda i: get(i % keys, lambda j: readers[j]))

    dead = set(random.sample(range(1, nodes), nodes * 3 // 10))
    for index in dead:
        network[index].stop()
    survivors = [i for i in range(nodes) if i not in dead]
    surviving_readers = [random.choice(survivors) for _ in items]
    for name in ("get_after_kill", "get_after_kill_second_pass"):
        await measure(name, min(keys, keys_after_kill), 1, lambda i: get(i, lambda j: surviving_readers[j]))
    for index in survivors:
        network[index].stop()


if __name__ == "__main__":
    nodes = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    keys = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    asyncio.run(main(nodes, keys, int(sys.argv[3]) if len(sys.argv) > 3 else keys))
