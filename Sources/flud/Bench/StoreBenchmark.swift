import FludCodec
import FludStore
import Foundation

/// Measures puts and gets of one fragment size against a fresh store.
///
/// Puts include everything a node pays: the bytes checked against their key (BLAKE3),
/// CRC-32C, claim and owner records, and the commit (fsync when durable).
/// Batched puts keep 64 puts in flight, so the writer groups them into shared
/// transactions; single puts await each commit before the next.
/// Gets read every stored fragment in a fixed shuffled order, 256 per read
/// transaction when batched, one per transaction when single. Every get
/// verifies the CRC-32C and reads the last byte. With `cold`, one such pass
/// first reads them from the medium, as after a restart.
struct StoreBenchmark {
    struct Result {
        let operation: String
        let valueBytes: Int
        let batched: Bool
        let durable: Bool
        let operationsPerSecond: Double
        var megabytesPerSecond: Double { operationsPerSecond * Double(valueBytes) / 1e6 }
    }

    let directory: String
    let valueBytes: Int
    let batched: Bool
    let durable: Bool
    /// Upper bound on the time spent on each of put and get.
    let seconds: Double
    /// Also read every fragment once from the medium, before the gets: the
    /// store is closed, its file dropped from the page cache, and reopened.
    var cold = false

    func run() async throws -> [Result] {
        var options = BlockStore.Options()
        options.durable = durable
        options.initialMapSize = 1 << 30
        var store = try BlockStore(directory: directory, options: options)
        defer { store.close() }
        let count = max(16, min(16_384, (64 << 20) / valueBytes))
        let fragments = (0..<count).map { index in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: valueBytes, alignment: 64)
            defer { buffer.deallocate() }
            fillPseudoRandom(buffer, seed: UInt64(index + 1) &* 0x1000_0001 ^ UInt64(valueBytes))
            return Array(buffer)
        }
        let keys = fragments.map { ContentHash(fragment: $0) }
        let owner = OwnerID(bytes: [UInt8](repeating: 0x42, count: 32))!

        let putStart = monotonicSeconds()
        let stored = batched
            ? try await putConcurrently(fragments, keys: keys, owner: owner, into: store)
            : try await putOneByOne(fragments, keys: keys, owner: owner, into: store)
        let putRate = Double(stored.count) / (monotonicSeconds() - putStart)

        // In a shuffled order, as a node's peers ask, and the one the raw LMDB
        // baseline (perf/store) reads in: read in the order they were written,
        // the values lie one after the other and the prefetchers hide most of
        // the memory's latency, which flud's concurrent puts only half keep.
        var storedKeys = stored.map { keys[$0] }
        storedKeys.shuffleRepeatably(seed: UInt64(valueBytes))
        var checksum: UInt8 = 0
        func readAll() throws {
            if batched {
                for start in stride(from: 0, to: storedKeys.count, by: 256) {
                    try store.withFragments(Array(storedKeys[start..<min(start + 256, storedKeys.count)])) { _, bytes in
                        checksum &+= bytes[bytes.count - 1]
                    }
                }
            } else {
                for key in storedKeys { checksum &+= try store.withFragment(key) { $0[$0.count - 1] } }
            }
        }
        var results = [Result(operation: "put", valueBytes: valueBytes, batched: batched, durable: durable,
                              operationsPerSecond: putRate)]
        if cold {
            // As after a restart: closed, nothing of the file is mapped, so the kernel can drop it all.
            store.close()
            try dropCachedPages(of: directory + "/data.mdb")
            store = try BlockStore(directory: directory, options: options)
            let coldStart = monotonicSeconds()
            try readAll()
            results.append(Result(operation: "get_cold", valueBytes: valueBytes, batched: batched, durable: durable,
                                  operationsPerSecond: Double(storedKeys.count) / (monotonicSeconds() - coldStart)))
        }
        var reads = 0
        let getStart = monotonicSeconds()
        repeat {
            try readAll()
            reads += storedKeys.count
        } while monotonicSeconds() - getStart < min(seconds, 0.5)
        let getRate = Double(reads) / (monotonicSeconds() - getStart)
        precondition(checksum != 0 || reads > 0)
        results.append(Result(operation: "get", valueBytes: valueBytes, batched: batched, durable: durable,
                              operationsPerSecond: getRate))
        return results
    }

    /// Awaits each put before the next; returns the indices stored before the time ran out.
    private func putOneByOne(_ fragments: [[UInt8]], keys: [ContentHash], owner: OwnerID, into store: BlockStore) async throws -> [Int] {
        let start = monotonicSeconds()
        for (index, bytes) in fragments.enumerated() {
            _ = try await store.put(bytes, key: keys[index], owner: owner, leaseExpiry: .max)
            if monotonicSeconds() - start > seconds { return Array(0...index) }
        }
        return Array(fragments.indices)
    }

    /// Keeps 64 puts in flight, as a node serving many peers does; returns the
    /// indices stored before the time ran out.
    private func putConcurrently(_ fragments: [[UInt8]], keys: [ContentHash], owner: OwnerID, into store: BlockStore) async throws -> [Int] {
        let runs = try await runConcurrently(count: fragments.count, concurrency: 64, for: seconds) { index, _ in
            _ = try await store.put(fragments[index], key: keys[index], owner: owner, leaseExpiry: .max)
            return index
        }
        return runs.runs.map(\.outcome)
    }
}
