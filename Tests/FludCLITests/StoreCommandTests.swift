import FludCodec
import FludStore
import Foundation
import Testing

/// `flud store stats|scrub` and `flud bench store` as an operator runs them.
struct StoreCommandTests {
    /// A store with `count` fragments, closed again.
    func populatedStore(count: Int) async throws -> Scratch {
        let scratch = try Scratch()
        let store = try BlockStore(directory: scratch.file("data"))
        let owner = OwnerID(bytes: [UInt8](repeating: 9, count: 32))!
        for index in 0..<count {
            let bytes = [UInt8](repeating: UInt8(index), count: 1000 + index)
            _ = try await store.put(bytes, key: ContentHash(fragment: bytes), owner: owner, leaseExpiry: 1)
        }
        store.close()
        return scratch
    }

    @Test func statsReportsCountsAsJSON() async throws {
        let scratch = try await populatedStore(count: 5)
        let run = try await Flud.run(["store", "stats", "--json", "--data", scratch.file("data")])
        #expect(run.status == 0, "\(run.stderr)")
        let stats = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        #expect(stats?["fragments"] as? Int == 5)
        #expect(stats?["fragment_bytes"] as? Int == 5 * 1000 + 10)
        #expect(stats?["owners"] as? Int == 1)
    }

    @Test func scrubOfAHealthyStoreIsClean() async throws {
        let scratch = try await populatedStore(count: 3)
        let run = try await Flud.run(["store", "scrub", "--data", scratch.file("data")])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("store is clean"))
    }

    @Test func scrubFindsACorruptFragmentAndFails() async throws {
        let scratch = try await populatedStore(count: 3)
        let path = scratch.file("data/data.mdb")
        var file = try Data(contentsOf: URL(fileURLWithPath: path))
        let position = try #require(file.range(of: Data(repeating: 2, count: 1002))).lowerBound
        file[position + 500] ^= 0x01
        try file.write(to: URL(fileURLWithPath: path))
        let run = try await Flud.run(["store", "scrub", "--json", "--data", scratch.file("data")])
        #expect(run.status == 1)
        #expect(run.stdout.contains("\"corrupt\":1"))
        #expect(run.stdout.contains("\"clean\":false"))
    }

    @Test func aStoreInUseIsReported() async throws {
        let scratch = try await populatedStore(count: 1)
        let store = try BlockStore(directory: scratch.file("data"))
        defer { store.close() }
        let run = try await Flud.run(["store", "stats", "--data", scratch.file("data")])
        #expect(run.status == 1)
        #expect(run.stderr.contains("is in use by another process (pid \(getpid()))"))
    }

    @Test func aMissingDataDirectoryIsReported() async throws {
        let run = try await Flud.run(["store", "stats", "--data", "/nonexistent/flud"])
        #expect(run.status == 1)
        #expect(run.stderr == "flud: /nonexistent/flud is not a directory\n")
    }

    @Test func benchStorePrintsTheDocumentedJSON() async throws {
        let scratch = try Scratch()
        let run = try await Flud.run(["bench", "store", "--json", "--dir", scratch.path, "--size", "4096", "--seconds", "0.2"])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = try run.stdout.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(lines.count == 8)
        for line in lines {
            #expect(["put", "get"].contains(line["op"] as? String))
            #expect(line["value_bytes"] as? Int == 4096)
            #expect(line["batched"] is Bool && line["durable"] is Bool)
            #expect((line["ops_per_s"] as? Double ?? 0) > 0)
            #expect((line["mb_per_s"] as? Double ?? 0) > 0)
        }
        #expect(try scratch.listing().isEmpty, "benchmark stores are removed")
    }

    @Test func benchStoreColdReadsEveryConfigurationOnceMore() async throws {
        let scratch = try Scratch()
        let run = try await Flud.run(["bench", "store", "--json", "--cold", "--dir", scratch.path, "--size", "65536",
                                "--seconds", "0.1"])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = try run.stdout.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(lines.compactMap { $0["op"] as? String } == Array(repeating: ["put", "get_cold", "get"], count: 4).flatMap { $0 })
        for line in lines where line["op"] as? String == "get_cold" {
            #expect((line["mb_per_s"] as? Double ?? 0) > 0)
        }
        #expect(try scratch.listing().isEmpty, "benchmark stores are removed")
    }
}
