import FludCodec
import FludDHT
import FludStore
import FludTestSupport
import FludWire
import Foundation
import Testing
@testable import FludNode

@Suite(.timeLimit(.minutes(3)))
struct NodeTests {
    @Test func aNodeKeepsItsIdentityAcrossRestartsAndItsIDFollowsTheKey() async throws {
        let directory = try TemporaryDirectory(prefix: "flud-node")
        let configuration = StorageNode.Configuration(data: directory.path)
        let first = try await StorageNode.start(configuration, logger: quietLogger)
        let key = first.identity.publicKey
        #expect(first.dht.id == StorageNode.nodeID(for: key))
        await first.stop()
        let second = try await StorageNode.start(configuration, logger: quietLogger)
        #expect(second.identity.publicKey == key)
        #expect(second.dht.id == first.dht.id)
        await second.stop()
    }

    /// Expired claims go at the node's first upkeep, then at most hourly:
    /// collecting them scans every claim.
    @Test func expiredClaimsGoAtTheFirstUpkeepThenHourly() async throws {
        let directory = try TemporaryDirectory(prefix: "flud-node")
        let node = try await StorageNode.start(StorageNode.Configuration(data: directory.path), logger: quietLogger)
        let owner = OwnerID(bytes: [UInt8](repeating: 7, count: 32))!
        func storeExpired(_ text: String) async throws -> ContentHash {
            let bytes = Array(text.utf8)
            let key = ContentHash(fragment: bytes)
            _ = try await node.store.put(bytes, key: key, owner: owner, leaseExpiry: 1)
            return key
        }
        let first = try await storeExpired("lapsed before the first upkeep")
        await node.maintain()
        #expect(try !node.store.contains(first))
        let second = try await storeExpired("lapsed after it")
        await node.maintain()
        #expect(try node.store.contains(second), "not again within the hour")
        await node.stop()

        let start = ContinuousClock.now
        let hourly = Periodic(every: .seconds(3600))
        #expect(hourly.isDue(at: start))
        #expect(!hourly.isDue(at: start + .seconds(3599)))
        #expect(hourly.isDue(at: start + .seconds(3600)))
        #expect(!hourly.isDue(at: start + .seconds(3601)))
    }

    /// BEP 44 items a node holds for others outlive its restart; a damaged or
    /// forged record on disk is dropped, never served.
    @Test func dhtItemsSurviveARestartAndDamagedRecordsAreDropped() async throws {
        let directory = try TemporaryDirectory(prefix: "flud-node")
        let configuration = StorageNode.Configuration(data: directory.path)
        let immutable = StoredItem(immutable: .string("kept across restarts"))
        let salt = Array("root".utf8)
        let mutable = StoredItem(value: .string("v3"), signedBy: .generate(), salt: salt, sequence: 3)
        let first = try await StorageNode.start(configuration, logger: quietLogger)
        let writer = try await DHTNode.start(readOnly: true)
        await writer.bootstrap(from: [try DHTNode.address("127.0.0.1:\(first.port)")])
        #expect(try await writer.put(immutable) == 1)
        #expect(try await writer.put(mutable) == 1)
        await writer.close()
        await first.stop()

        // Damage the store's copy: a forged signature and a record that is not one.
        var forged = StoredItem(value: .string("forged"), signedBy: .generate(), sequence: 1)
        forged.mutable!.signature[0] ^= 1
        var options = BlockStore.Options()
        options.tables = ["dht-items"]
        let store = try BlockStore(directory: directory.path, options: options)
        let table = store.table("dht-items")
        #expect(try table.entries().count == 2)
        let now = Date().timeIntervalSince1970
        try await table.set(StorageNode.record(of: HeldItem(item: forged, storedAt: now, firstSeen: now)), for: forged.target.bytes)
        try await table.set([1, 2, 3], for: NodeID.random().bytes)
        store.close()

        let second = try await StorageNode.start(configuration, logger: quietLogger)
        let reader = try await DHTNode.start(readOnly: true)
        await reader.bootstrap(from: [try DHTNode.address("127.0.0.1:\(second.port)")])
        #expect(await reader.get(immutable.target) == immutable)
        #expect(await reader.get(mutable.target, salt: salt) == mutable)
        #expect(await reader.get(forged.target) == nil)
        await reader.close()
        await second.stop()
        let reopened = try BlockStore(directory: directory.path, options: options)
        #expect(try reopened.table("dht-items").entries().map(\.key).sorted { $0.lexicographicallyPrecedes($1) }
                == [immutable.target.bytes, mutable.target.bytes].sorted { $0.lexicographicallyPrecedes($1) })
        reopened.close()
    }

    @Test func statusReportsIdentityAndLoad() async throws {
        let harness = try await NodeHarness.start()
        let client = try await harness.client()
        try await client.store(fragment(5000, seed: 1).bytes)
        let status = try JSONDecoder().decode(StorageNode.Status.self, from: Data(try await client.status()))
        #expect(status.key == harness.node.identity.publicKey.hex)
        #expect(status.nodeID == harness.node.dht.id.hex)
        #expect(status.fragments == 1)
        #expect(status.bytesStored == 5000)
        #expect(status.connections == 1)
        #expect(client.nodeKey == harness.node.identity.publicKey)
        await client.close()
        await harness.stop()
    }

    @Test func aClientThatExpectsAnotherNodeRefusesIt() async throws {
        let harness = try await NodeHarness.start()
        await #expect(throws: WireError.self) {
            _ = try await FragmentClient.connect(host: "127.0.0.1", port: harness.node.port, identity: PeerIdentity(),
                                                 expecting: PeerIdentity().publicKey)
        }
        await harness.stop()
    }

    @Test func theLedgerIsKeptAcrossRestarts() async throws {
        let directory = try TemporaryDirectory(prefix: "flud-ledger")
        let peer = PeerIdentity().publicKey
        do {
            var options = BlockStore.Options()
            options.tables = ["trust"]
            let store = try BlockStore(directory: directory.path, options: options)
            let ledger = try TrustLedger(table: store.table("trust"))
            ledger.record(.storeSucceeded(bytes: 4096), for: peer)
            ledger.record(.auditPassed, for: peer)
            ledger.record(.retrieveFailed, for: peer)
            try await ledger.flush()
            store.close()
        }
        var options = BlockStore.Options()
        options.tables = ["trust"]
        let store = try BlockStore(directory: directory.path, options: options)
        defer { store.close() }
        let ledger = try TrustLedger(table: store.table("trust"))
        let record = ledger[peer]
        #expect(record.storesSucceeded == 1)
        #expect(record.auditsPassed == 1)
        #expect(record.retrievesFailed == 1)
        #expect(record.bytesStoredWith == 4096)
        #expect(ledger.allowance(for: peer) == ledger.policy.generosity + 4096)
        // Never 0, which the store reads as no limit; never an overflow.
        var policy = TrustLedger.Policy()
        policy.generosity = 0
        #expect(try TrustLedger(table: store.table("trust"), policy: policy).allowance(for: PeerIdentity().publicKey) == 1)
        policy.generosity = .max
        #expect(try TrustLedger(table: store.table("trust"), policy: policy).allowance(for: peer) == .max)
    }

    @Test func placementPrefersReliablePeers() throws {
        let directory = try TemporaryDirectory(prefix: "flud-ledger")
        var options = BlockStore.Options()
        options.tables = ["trust"]
        let store = try BlockStore(directory: directory.path, options: options)
        defer { store.close() }
        let ledger = try TrustLedger(table: store.table("trust"))
        let (good, unknown, bad) = (PeerIdentity().publicKey, PeerIdentity().publicKey, PeerIdentity().publicKey)
        for _ in 0..<5 {
            ledger.record(.auditPassed, for: good)
            ledger.record(.auditFailed, for: bad)
        }
        #expect(ledger.rankedForPlacement([bad, unknown, good]) == [good, unknown, bad])
    }

    /// Twelve nodes on one DHT: each fragment goes to the node whose ID is
    /// closest to the fragment's key, found by a DHT lookup, and another user
    /// finds and fetches it the same way.
    @Test func aTwelveNodeNetworkStoresAndRetrievesAcrossNodes() async throws {
        let directory = try TemporaryDirectory(prefix: "flud-network")
        var nodes: [StorageNode] = []
        for index in 0..<12 {
            var configuration = StorageNode.Configuration(data: directory.path + "/node-\(index)")
            if let first = nodes.first { configuration.bootstrap = [try DHTNode.address("127.0.0.1:\(first.port)")] }
            nodes.append(try await StorageNode.start(configuration, logger: quietLogger))
        }
        for node in nodes.dropFirst() { _ = await node.dht.bootstrap(from: [try DHTNode.address("127.0.0.1:\(nodes[0].port)")]) }
        let byPort = Dictionary(uniqueKeysWithValues: nodes.map { ($0.port, $0) })

        func holder(of key: ContentHash, asking node: StorageNode) async throws -> StorageNode {
            // The lookup finds the closest other nodes; the asker counts too.
            let target = NodeID(bytes: key.bytes.prefix(NodeID.byteCount))!
            let found = await node.dht.lookup(target).compactMap { byPort[Int($0.port)] } + [node]
            return try #require(found.min { $0.dht.id.distance(to: target) < $1.dht.id.distance(to: target) })
        }

        let writer = PeerIdentity()
        let fragments = (0..<24).map { fragment(16 << 10, seed: 300 + UInt64($0)) }
        var holders: Set<Int> = []
        for (index, (key, bytes)) in fragments.enumerated() {
            let node = try await holder(of: key, asking: nodes[index % 12])
            let client = try await FragmentClient.connect(host: "127.0.0.1", port: node.port, identity: writer)
            try await client.store(bytes)
            await client.close()
            holders.insert(node.port)
        }
        #expect(holders.count > 1, "fragments spread over several nodes")
        let reader = PeerIdentity()
        for (index, (key, bytes)) in fragments.enumerated() {
            let node = try await holder(of: key, asking: nodes[(index + 5) % 12])
            let client = try await FragmentClient.connect(host: "127.0.0.1", port: node.port, identity: reader)
            #expect(try await client.retrieve(key) == bytes)
            await client.close()
        }
        for node in nodes { await node.stop() }
    }
}
