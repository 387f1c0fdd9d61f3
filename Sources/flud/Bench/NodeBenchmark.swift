import FludCodec
import FludNode
import FludWire
import Foundation
import Logging

/// Stores then retrieves `count` distinct fragments of `size` bytes on a node
/// of this process over TCP on 127.0.0.1, `concurrency` requests in flight
/// spread over `connections` connections. Stores are durable (fsync before
/// the answer); retrieves are checked against their key by the client. With
/// `cold`, the store's file is dropped from the page cache between a store
/// phase and its retrieve phase (op "retrieve_cold"): the fragments just
/// stored come from the medium, as those stored long ago or before a restart.
struct NodeBenchmark {
    struct Phase {
        let operation: String
        let size: Int
        let concurrency: Int
        let count: Int
        let seconds: Double
        let latencies: [Double]

        var megabytesPerSecond: Double { Double(size * count) / seconds / 1e6 }
        var operationsPerSecond: Double { Double(count) / seconds }
        func percentile(_ fraction: Double) -> Double {
            latencies[min(latencies.count - 1, Int(Double(latencies.count) * fraction))] * 1000
        }
    }

    let directory: String
    let sizes: [Int]
    let concurrencies: [Int]
    let bytesPerPhase: Int
    let connections: Int
    var cold = false
    let report: (Phase) -> Void

    func run() async throws {
        var configuration = StorageNode.Configuration(data: directory)
        configuration.trust.generosity = Int.max / 2
        var logger = Logger(label: "flud.bench-node")
        logger.logLevel = .warning
        let node = try await StorageNode.start(configuration, logger: logger)
        let identity = PeerIdentity()
        var clients: [FragmentClient] = []
        do {
            for _ in 0..<connections {
                clients.append(try await FragmentClient.connect(host: "127.0.0.1", port: node.port, identity: identity))
            }
            var seed: UInt64 = 1
            for size in sizes {
                for concurrency in concurrencies {
                    let count = max(concurrency * 2, bytesPerPhase / size)
                    let fragments = (0..<count).map { _ in
                        seed += 1
                        return randomFragment(size: size, seed: seed)
                    }
                    let keys = fragments.map { ContentHash(fragment: $0) }
                    let pool = clients
                    report(try await measure("store", size: size, concurrency: concurrency, count: count) { index in
                        try await pool[index % pool.count].store(fragments[index], key: keys[index])
                    })
                    if cold { try dropCachedPages(of: directory + "/data.mdb") }
                    report(try await measure(cold ? "retrieve_cold" : "retrieve", size: size, concurrency: concurrency,
                                             count: count) { index in
                        _ = try await pool[index % pool.count].retrieve(keys[index])
                    })
                }
            }
        } catch {
            for client in clients { await client.close() }
            await node.stop()
            throw error
        }
        for client in clients { await client.close() }
        await node.stop()
    }

    private func randomFragment(size: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15
        var bytes = [UInt8](repeating: 0, count: size)
        bytes.withUnsafeMutableBytes { buffer in
            let words = buffer.bindMemory(to: UInt64.self)
            for index in words.indices {
                state &+= 0x9E37_79B9_7F4A_7C15
                var mixed = state
                mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
                mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
                words[index] = mixed ^ (mixed >> 31)
            }
        }
        return bytes
    }

    /// Runs `operation` for 0..<count, `concurrency` at a time.
    private func measure(_ operation: String, size: Int, concurrency: Int, count: Int,
                         _ body: @escaping @Sendable (Int) async throws -> Void) async throws -> Phase {
        let (runs, seconds) = try await runConcurrently(count: count, concurrency: concurrency) { index, _ in try await body(index) }
        return Phase(operation: operation, size: size, concurrency: concurrency, count: count,
                     seconds: seconds, latencies: runs.map(\.seconds).sorted())
    }
}
