import FludDHT
import NIOCore

/// A local DHT of `nodes` nodes in this process on 127.0.0.1: puts and gets of
/// `keys` immutable items, gets at concurrency 32 (32 reading nodes, each item
/// ten times), then 30 % of the nodes die without a goodbye (their sockets
/// close) and the gets run twice more.
struct DHTBenchmark {
    struct Phase {
        let name: String
        let count: Int
        let success: Double
        let p50: Double
        let p99: Double
        let operationsPerSecond: Double
        let messagesPerLookup: Double
        /// Process CPU time per operation (µs), all nodes together.
        let cpuMicrosecondsPerOperation: Double
    }

    let nodes: Int
    let keys: Int
    let report: (Phase) -> Void
    static let concurrentPasses = 10

    func run() async throws {
        var started: [DHTNode] = []
        for _ in 0..<nodes { started.append(try await DHTNode.start(queryTimeout: .seconds(1))) }
        let network = started
        let seed = try DHTNode.address("127.0.0.1:\(network[0].port)")
        for node in network.dropFirst() { await node.bootstrap(from: [seed]) }

        let items = (0..<keys).map { StoredItem(immutable: .string("flud bench dht item \($0)")) }
        var random = SystemRandomNumberGenerator()
        let origins = items.map { _ in Int.random(in: 0..<nodes, using: &random) }

        report(try await measure("put", network, count: keys, concurrency: 1) { index, _ in
            (try? await network[origins[index]].put(items[index])) != nil
        })
        let readers = items.map { _ in Int.random(in: 0..<nodes, using: &random) }
        report(try await measure("get", network, count: keys, concurrency: 1) { index, _ in
            await network[readers[index]].get(items[index].target) == items[index]
        })
        // 32 reading nodes, each getting items one after another on its own
        // event loop, as a busy node runs its lookups. Ten passes over the
        // items: one pass at this rate lasts a tenth of a second, too short to
        // measure throughput on a shared machine.
        let concurrentReaders = (0..<32).map { _ in network[Int.random(in: 0..<nodes, using: &random)] }
        report(try await measure("get_concurrent", network, count: keys * Self.concurrentPasses, concurrency: 32,
                                 executors: concurrentReaders.map(\.taskExecutor)) { [keys] index, worker in
            await concurrentReaders[worker].get(items[index % keys].target) == items[index % keys]
        })

        // 30 % die without a goodbye: sockets closed, no messages sent.
        let dead = Set((1..<nodes).shuffled(using: &random).prefix(nodes * 3 / 10))
        for index in dead { await network[index].close() }
        let survivors = (0..<nodes).filter { !dead.contains($0) }
        let survivingReaders = items.map { _ in survivors.randomElement(using: &random)! }
        for name in ["get_after_kill", "get_after_kill_second_pass"] {
            report(try await measure(name, survivors.map { network[$0] }, count: keys, concurrency: 1) { index, _ in
                await network[survivingReaders[index]].get(items[index].target) == items[index]
            })
        }
        for index in survivors { await network[index].close() }
    }

    /// Runs `operation` for 0..<count, `concurrency` at a time, and summarises.
    private func measure(_ name: String, _ network: [DHTNode], count: Int, concurrency: Int, executors: [any TaskExecutor] = [],
                         _ operation: @escaping @Sendable (_ index: Int, _ worker: Int) async -> Bool) async throws -> Phase {
        let messagesBefore = await totalQueries(network)
        let cpuBefore = processCPUSeconds()
        let (outcomes, elapsed) = try await runConcurrently(count: count, concurrency: concurrency, executors: executors, operation)
        let cpu = processCPUSeconds() - cpuBefore
        let latencies = outcomes.map(\.seconds).sorted()
        let messages = await totalQueries(network) - messagesBefore
        return Phase(name: name, count: count,
                     success: Double(outcomes.filter(\.outcome).count) / Double(max(count, 1)),
                     p50: latencies[latencies.count / 2] * 1000,
                     p99: latencies[min(latencies.count - 1, latencies.count * 99 / 100)] * 1000,
                     operationsPerSecond: Double(count) / elapsed,
                     messagesPerLookup: Double(messages) / Double(max(count, 1)),
                     cpuMicrosecondsPerOperation: cpu * 1e6 / Double(max(count, 1)))
    }

    private func totalQueries(_ network: [DHTNode]) async -> Int {
        var total = 0
        for node in network { total += await node.queriesSent() }
        return total
    }
}
