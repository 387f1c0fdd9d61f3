import FludCodec
import FludDHT
import FludTestSupport
import Foundation
import Testing

/// flud's DHT against an independent implementation: libtorrent-rasterbar
/// (Debian's python3-libtorrent) bootstraps only into a flud network on
/// 127.0.0.1, and items put by either side are got by the other.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct LibtorrentInteropTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Interop/libtorrent_dht.py").path

    /// Runs the libtorrent driver and returns its JSON lines.
    func libtorrent(_ arguments: [String], bootstrap port: Int) async throws -> [[String: Any]] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [Self.script, "--bootstrap", "127.0.0.1:\(port)"] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = try await out.fileHandleForReading.remainingData()
        let errors = String(decoding: try await err.fileHandleForReading.remainingData(), as: UTF8.self)
        try await process.exited()
        #expect(process.terminationStatus == 0, "libtorrent driver failed: \(errors)")
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    @Test func itemsCrossBetweenFludAndLibtorrentBothWays() async throws {
        var nodes: [DHTNode] = []
        for _ in 0..<8 { nodes.append(try await DHTNode.start()) }
        let seed = try DHTNode.address("127.0.0.1:\(nodes[0].port)")
        for node in nodes.dropFirst() { await node.bootstrap(from: [seed]) }
        let port = nodes[0].port

        // libtorrent → flud, immutable. libtorrent's own queries (ping,
        // find_node, get_peers) must be answered for all eight flud nodes to
        // enter its routing table, and its get and put for the put to land.
        let put = try await libtorrent(["--expect-nodes", "8", "--put-immutable", "from libtorrent"], bootstrap: port)
        #expect(put.first?["op"] as? String == "bootstrapped")
        #expect(put.first?["nodes"] as? Int ?? 0 >= 8, "every flud node answered libtorrent's queries")
        #expect((put.last?["stored"] as? Int ?? 0) >= 1)
        let target = try #require(NodeID(hex: put.last?["target"] as? String ?? ""))
        #expect(await nodes[5].get(target) == StoredItem(immutable: .string("from libtorrent")))
        #expect(await nodes[0].routingTableSize() > 7, "flud learned of the libtorrent node")

        // flud → libtorrent, immutable.
        let ours = StoredItem(immutable: .string("from flud"))
        try await nodes[3].put(ours)
        let got = try await libtorrent(["--get-immutable", ours.target.hex], bootstrap: port)
        #expect(got.last?["value"] as? String == "from flud")

        // flud → libtorrent, mutable; then libtorrent updates it and flud reads the update.
        let key = SigningKey(seed: [UInt8](repeating: 0x5C, count: 32))!
        let publicKey = key.publicKey.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        try await nodes[2].put(StoredItem(value: .string("root v1"), signedBy: key, salt: Array("interop".utf8), sequence: 1))
        let mutable = try await libtorrent(["--get-mutable", publicKey, "interop"], bootstrap: port)
        #expect(mutable.last?["value"] as? String == "root v1")
        #expect(mutable.last?["seq"] as? Int == 1)
        let seedHex = String(repeating: "5c", count: 32)
        let update = try await libtorrent(["--put-mutable", seedHex, publicKey, "interop", "root v2"], bootstrap: port)
        #expect(update.last?["seq"] as? Int == 2)
        let latest = await nodes[6].get(StoredItem.target(publicKey: key.publicKey, salt: Array("interop".utf8)),
                                         salt: Array("interop".utf8))
        #expect(latest?.value == .string("root v2"))
        #expect(latest?.mutable?.sequence == 2)
        for node in nodes { await node.close() }
    }
}
