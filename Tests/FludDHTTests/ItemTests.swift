import FludCodec
import FludTestSupport
import Testing
@testable import FludDHT

struct StoredItemTests {
    /// The bytes a mutable item's signature covers, as BEP 44 spells them.
    @Test func signedBytesFollowBEP44() {
        let key = SigningKey.generate()
        let item = StoredItem(value: .string("Hello World!"), signedBy: key, sequence: 1)
        #expect(item.validate() == nil)
        #expect(StoredItem.signedBytes(value: .string("Hello World!"), salt: [], sequence: 1)
            == Array("3:seqi1e1:v12:Hello World!".utf8))
        #expect(StoredItem.signedBytes(value: .string("Hello World!"), salt: Array("foobar".utf8), sequence: 1)
            == Array("4:salt6:foobar3:seqi1e1:v12:Hello World!".utf8))
        #expect(SigningKey(seed: key.seed)?.publicKey == key.publicKey, "the seed is the whole key")
    }

    @Test func immutableTargetIsSHA1OfTheEncodedValue() {
        // BEP 44's immutable example: "Hello World!" → e5f96f6f38320f0f33959cb4d3d656452117aadb
        #expect(StoredItem(immutable: .string("Hello World!")).target.hex == "e5f96f6f38320f0f33959cb4d3d656452117aadb")
    }

    @Test func forgeriesAreRefused() {
        let key = SigningKey.generate()
        var item = StoredItem(value: .string("snapshot root"), signedBy: key, salt: Array("flud".utf8), sequence: 7)
        #expect(item.validate() == nil)
        item.value = .string("another root")
        #expect(item.validate()?.code == .invalidSignature)
        let big = StoredItem(immutable: .bytes([UInt8](repeating: 1, count: 1001)))
        #expect(big.validate()?.code == .messageTooBig)
        let salty = StoredItem(value: .integer(1), signedBy: key, salt: [UInt8](repeating: 2, count: 65), sequence: 1)
        #expect(salty.validate()?.code == .saltTooBig)
    }
}

struct ItemStoreTests {
    @Test func anItemIsPassedOnOnlyWithinALifetimeOfItsFirstArrival() {
        var store = ItemStore(lifetime: 100)
        let item = StoredItem(immutable: .string("x"))
        #expect(store.store(item, cas: nil, now: 0) == nil)
        #expect(store.store(item, cas: nil, now: 60) == nil, "a republished copy refreshes the item")
        #expect(store.item(at: item.target, now: 150) == item, "kept a lifetime after its last put")
        #expect(store.item(at: item.target, now: 161) == nil)
        #expect(store.dueForRepublishing(now: 90) == [item])
        #expect(store.dueForRepublishing(now: 120).isEmpty, "arrived 120 s ago: no longer passed on")

        let key = SigningKey.generate()
        let first = StoredItem(value: .string("v1"), signedBy: key, sequence: 1)
        let second = StoredItem(value: .string("v2"), signedBy: key, sequence: 2)
        #expect(store.store(first, cas: nil, now: 0) == nil)
        #expect(store.store(second, cas: nil, now: 150) == nil)
        #expect(store.dueForRepublishing(now: 200) == [second], "a new version starts afresh")
    }

    @Test func changesAreReportedOnceForSaving() {
        var store = ItemStore(lifetime: 100)
        let item = StoredItem(immutable: .string("y"))
        _ = store.store(item, cas: nil, now: 5)
        let changes = store.drainChanges(now: 10)
        #expect(changes.count == 1 && changes[0].held == HeldItem(item: item, storedAt: 5, firstSeen: 5))
        #expect(store.drainChanges(now: 10).isEmpty)
        #expect(store.restore(HeldItem(item: item, storedAt: -200, firstSeen: -200), now: 10) == false, "expired")
    }
}

@Suite(.timeLimit(.minutes(2)))
struct ItemNetworkTests {
    func network(_ count: Int) async throws -> [DHTNode] {
        var nodes: [DHTNode] = []
        for _ in 0..<count { nodes.append(try await DHTNode.start()) }
        let seed = try DHTNode.address("127.0.0.1:\(nodes[0].port)")
        for node in nodes.dropFirst() { await node.bootstrap(from: [seed]) }
        return nodes
    }

    @Test func itemsPutByOneNodeAreGotByAnother() async throws {
        let nodes = try await network(16)
        let immutable = StoredItem(immutable: .string("fragment locations"))
        #expect(try await nodes[3].put(immutable) >= 1)
        #expect(await nodes[11].get(immutable.target) == immutable)

        let key = SigningKey.generate()
        let first = StoredItem(value: .string("root v1"), signedBy: key, salt: Array("backup".utf8), sequence: 1)
        try await nodes[5].put(first)
        let second = StoredItem(value: .string("root v2"), signedBy: key, salt: Array("backup".utf8), sequence: 2)
        try await nodes[6].put(second, cas: 1)
        #expect(await nodes[9].get(second.target, salt: Array("backup".utf8)) == second)

        #expect(await nodes[2].get(NodeID.random()) == nil)
        for node in nodes { await node.close() }
    }

    /// A get of an immutable item asks one contact at a time while answers come
    /// quickly (the closest known usually holds it), where α in flight would
    /// cost at least three queries; with its closest holders dead it still gets it.
    @Test func anImmutableGetAsksOneContactAtATimeAndGetsPastDeadHolders() async throws {
        let nodes = try await network(16)
        let items = (0..<10).map { StoredItem(immutable: .string("chunk map \($0)")) }
        for item in items { #expect(try await nodes[3].put(item) >= 1) }
        let before = await nodes[11].queriesSent()
        for item in items { #expect(await nodes[11].get(item.target) == item) }
        let perGet = Double(await nodes[11].queriesSent() - before) / Double(items.count)
        #expect(perGet < 2.5, "\(perGet) queries per get")

        // Run on the reader's event loop, the get gives the same answer.
        let onLoop = await withTaskExecutorPreference(nodes[11].taskExecutor) {
            (await nodes[11].get(items[1].target), nodes[11].channel.eventLoop.inEventLoop)
        }
        #expect(onLoop.0 == items[1] && onLoop.1, "got it on the node's event loop")

        let item = items[0]
        var holders: [Int] = []
        for index in nodes.indices {
            let answer = try? await nodes[3].query("get", ["target": .bytes(item.target.bytes)],
                                                   to: DHTNode.address("127.0.0.1:\(nodes[index].port)"))
            if answer?.values["v"] != nil { holders.append(index) }
        }
        let closest = holders.sorted { nodes[$0].id.isCloser(than: nodes[$1].id, to: item.target) }.prefix(2)
        for index in closest { await nodes[index].close() }
        let reader = nodes.indices.first { !holders.contains($0) && $0 != 3 }!
        #expect(await nodes[reader].get(item.target) == item)
        for index in nodes.indices where !closest.contains(index) { await nodes[index].close() }
    }

    /// Holders pass items on to the nodes now closest to them: after every
    /// node that first held a snapshot root has died, the nodes that took it
    /// over still serve it.
    @Test func republishedItemsOutliveTheNodesThatFirstHeldThem() async throws {
        let nodes = try await network(24)
        let salt = Array("root".utf8)
        let root = StoredItem(value: .string("snapshot root"), signedBy: .generate(), salt: salt, sequence: 7)
        #expect(try await nodes[1].put(root) >= 1)
        var firstHolders: [Int] = []
        for (index, node) in nodes.enumerated() {
            let answer = try? await nodes[1].query("get", ["target": .bytes(root.target.bytes)],
                                                   to: DHTNode.address("127.0.0.1:\(node.port)"))
            if answer?.values["v"] != nil { firstHolders.append(index) }
        }
        #expect(firstHolders.count >= 4, "\(firstHolders)")
        let half = firstHolders.count / 2
        for index in firstHolders.prefix(half) { await nodes[index].close() }
        for index in firstHolders.dropFirst(half) { #expect(await nodes[index].republishHeldItems() == 1) }
        for index in firstHolders.dropFirst(half) { await nodes[index].close() }
        let reader = nodes.indices.first { !firstHolders.contains($0) && $0 != 1 }!
        #expect(await nodes[reader].get(root.target, salt: salt) == root)
        for index in nodes.indices where !firstHolders.contains(index) { await nodes[index].close() }
    }

    /// One node's answers to puts of older or conflicting versions (BEP 44 302, 301).
    @Test func aNodeRefusesOlderVersionsAndFailedCAS() async throws {
        let holder = try await DHTNode.start()
        let client = try await DHTNode.start()
        let address = try DHTNode.address("127.0.0.1:\(holder.port)")
        let key = SigningKey.generate()
        func put(_ sequence: Int64, _ value: String, cas: Int64? = nil) async throws {
            let item = StoredItem(value: .string(value), signedBy: key, sequence: sequence)
            let token = try #require(try await client.query("get", ["target": .bytes(item.target.bytes)], to: address).values["token"])
            var arguments: BencodeDictionary = ["v": item.value, "k": .bytes(key.publicKey), "seq": .integer(sequence),
                                                "sig": .bytes(item.mutable!.signature), "token": token]
            if let cas { arguments["cas"] = .integer(cas) }
            _ = try await client.query("put", arguments, to: address)
        }
        try await put(2, "v2")
        await #expect(throws: DHTError.remote(KRPCError(code: .sequenceTooLow, message: "sequence number less than current"))) {
            try await put(1, "v1")
        }
        await #expect(throws: DHTError.remote(KRPCError(code: .casMismatch, message: "CAS mismatch"))) {
            try await put(3, "v3", cas: 1)
        }
        try await put(3, "v3", cas: 2)
        try await put(3, "v3")  // the same version again is a refresh
        await holder.close()
        await client.close()
    }
}

