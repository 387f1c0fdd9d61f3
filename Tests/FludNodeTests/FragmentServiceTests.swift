import FludCodec
import FludTestSupport
import FludWire
import Testing
@testable import FludNode

/// The flŭd primitive scenarios, over real TCP on 127.0.0.1.
@Suite(.timeLimit(.minutes(3)))
struct FragmentServiceTests {
    @Test(arguments: [8 << 10, 1 << 20])
    func storeThenRetrieveIsByteExact(size: Int) async throws {
        let harness = try await NodeHarness.start()
        let client = try await harness.client()
        let (key, bytes) = fragment(size, seed: UInt64(size))
        #expect(try await client.store(bytes) == .stored)
        #expect(try await client.retrieve(key) == bytes)
        let info = try await client.stat(key)
        #expect(info.size == UInt64(size))
        #expect(try await client.list().map(\.key) == [key])
        await client.close()
        await harness.stop()
    }

    @Test(arguments: [8 << 10, 1 << 20])
    func aSharedFragmentLivesUntilItsLastOwnerDeletesIt(size: Int) async throws {
        let harness = try await NodeHarness.start()
        let owners = [try await harness.client(), try await harness.client(), try await harness.client()]
        let (key, bytes) = fragment(size, seed: 7)
        #expect(try await owners[0].store(bytes) == .stored)
        #expect(try await owners[1].store(bytes) == .claimAdded)
        #expect(try await owners[2].store(bytes) == .claimAdded)
        for (index, owner) in owners.enumerated() {
            try await owner.delete(key)
            await #expect(throws: WireError.self) { try await owner.delete(key) }
            if index < owners.count - 1 {
                #expect(try await owners[index + 1].retrieve(key) == bytes, "after \(index + 1) deletes")
            } else {
                await #expect(performing: { _ = try await owner.retrieve(key) }, throws: { refusal($0) == .notFound })
            }
        }
        for owner in owners { await owner.close() }
        await harness.stop()
    }

    @Test func bytesThatDoNotHashToTheirKeyAreRefused() async throws {
        let harness = try await NodeHarness.start()
        let client = try await harness.client()
        let (key, _) = fragment(8192, seed: 1)
        let other = deterministicBytes(8192, seed: 2)
        await #expect(performing: { try await client.store(other, key: key) }, throws: { refusal($0) == .badKey })
        #expect(try harness.node.store.contains(key) == false)
        await client.close()
        await harness.stop()
    }

    @Test func unknownKeysAreNotFound() async throws {
        let harness = try await NodeHarness.start()
        let client = try await harness.client()
        let key = ContentHash(fragment: [1, 2, 3])
        await #expect(performing: { _ = try await client.retrieve(key) }, throws: { refusal($0) == .notFound })
        await #expect(performing: { _ = try await client.verify(key, challenge: .random(offset: 0, length: 1)) },
                      throws: { refusal($0) == .notFound })
        await #expect(performing: { try await client.delete(key) }, throws: { refusal($0) == .notFound })
        await #expect(performing: { _ = try await client.stat(key) }, throws: { refusal($0) == .notFound })
        await #expect(performing: { _ = try await client.renew(key, until: 1) }, throws: { refusal($0) == .notFound })
        await client.close()
        await harness.stop()
    }

    @Test func renewExtendsTheCallersLeaseWithoutTheBytes() async throws {
        let harness = try await NodeHarness.start()
        let owner = try await harness.client(), stranger = try await harness.client()
        let (key, bytes) = fragment(8192, seed: 12)
        #expect(try await owner.store(bytes, leaseExpiry: 2_000_000_000) == .stored)
        #expect(try await owner.renew(key, until: 2_100_000_000) == 2_100_000_000)
        #expect(try await owner.stat(key).leaseExpiry == 2_100_000_000)
        #expect(try await owner.renew(key, until: 2_050_000_000) == 2_100_000_000, "never shortened")
        await #expect(performing: { _ = try await stranger.renew(key, until: 2_200_000_000) }, throws: { refusal($0) == .notFound })
        await owner.close()
        await stranger.close()
        await harness.stop()
    }

    @Test func verifyProvesPossessionAndRefusesRangesPastTheEnd() async throws {
        let harness = try await NodeHarness.start()
        let client = try await harness.client()
        let (key, bytes) = fragment(8192, seed: 3)
        try await client.store(bytes)
        for (challenge, answer) in AuditChallenge.precompute(for: bytes, count: 3) {
            #expect(try await client.verify(key, challenge: challenge) == answer)
        }
        let partial = AuditChallenge.random(offset: 8000, length: 192)
        #expect(try await client.verify(key, challenge: partial) == bytes.withUnsafeBytes { partial.answer(for: $0) })
        for challenge in [AuditChallenge.random(offset: 8000, length: 193), .random(offset: 8192, length: 1),
                          .random(offset: 1, length: UInt64.max)] {
            await #expect(performing: { _ = try await client.verify(key, challenge: challenge) },
                          throws: { refusal($0) == .outOfRange })
        }
        await client.close()
        await harness.stop()
    }

    @Test func threeHundredConcurrentRequestsAllSucceed() async throws {
        let harness = try await NodeHarness.start()
        let clients = [try await harness.client(), try await harness.client(), try await harness.client()]
        let fragments = (0..<300).map { fragment(8192, seed: 1000 + UInt64($0)) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, (_, bytes)) in fragments.enumerated() {
                group.addTask { try await clients[index % 3].store(bytes) }
            }
            try await group.waitForAll()
        }
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for (index, (key, bytes)) in fragments.enumerated() {
                group.addTask { try await clients[(index + 1) % 3].retrieve(key) == bytes }
                group.addTask {
                    let challenge = AuditChallenge.random(offset: 0, length: UInt64(bytes.count))
                    let answer = try await clients[(index + 2) % 3].verify(key, challenge: challenge)
                    return answer == bytes.withUnsafeBytes { challenge.answer(for: $0) }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.count == 600)
        #expect(outcomes.allSatisfy { $0 })
        for client in clients { await client.close() }
        await harness.stop()
    }

    @Test func aPeerMayStoreItsAllowanceAndNoMore() async throws {
        let harness = try await NodeHarness.start { $0.trust.generosity = 20_000 }
        let client = try await harness.client()
        try await client.store(fragment(8192, seed: 1).bytes)
        try await client.store(fragment(8192, seed: 2).bytes)
        await #expect(performing: { try await client.store(fragment(8192, seed: 3).bytes) },
                      throws: { refusal($0) == .quotaExceeded })
        // What is stored stays; another peer has its own allowance.
        #expect(try await client.retrieve(fragment(8192, seed: 1).key) == fragment(8192, seed: 1).bytes)
        let other = try await harness.client()
        try await other.store(fragment(8192, seed: 3).bytes)
        await client.close()
        await other.close()
        await harness.stop()
    }

    /// Fairness: a user's node lets each peer store what the user keeps on
    /// that peer's node plus the margin, and follows the user's figure as it
    /// changes, for peers already connected too.
    @Test func aPeerMayStoreWhatTheUserKeepsWithItPlusTheMargin() async throws {
        let user = PeerIdentity(), peer = PeerIdentity()
        let directory = try TemporaryDirectory(prefix: "flud-kept")
        let kept = directory.file("kept-bytes")
        try KeptBytesFile.write([peer.publicKey: 20_000], to: kept)
        let harness = try await NodeHarness.start {
            $0.trust.generosity = 20_000
            $0.identity = user
            $0.keptBytesFile = kept
        }
        let client = try await harness.client(peer)
        #expect(client.nodeKey == user.publicKey, "the node proves its user's key")
        for seed: UInt64 in 1...4 { try await client.store(fragment(8192, seed: seed).bytes) }
        await #expect(performing: { try await client.store(fragment(8192, seed: 5).bytes) },
                      throws: { refusal($0) == .quotaExceeded })
        // Another peer has the margin alone.
        let stranger = try await harness.client()
        for seed: UInt64 in 6...7 { try await stranger.store(fragment(8192, seed: seed).bytes) }
        await #expect(performing: { try await stranger.store(fragment(8192, seed: 8).bytes) },
                      throws: { refusal($0) == .quotaExceeded })
        // The user's next backup keeps more with the peer: its upkeep raises the quota.
        try KeptBytesFile.write([peer.publicKey: 40_000], to: kept)
        await harness.node.maintain()
        try await client.store(fragment(8192, seed: 5).bytes)
        await client.close()
        await stranger.close()
        await harness.stop()
    }

    /// A data directory keeps the key it was first run with: its own node's
    /// key, or the user's that it was first run as.
    @Test func aDataDirectoryKeepsItsNodesIdentity() async throws {
        let harness = try await NodeHarness.start()
        let data = harness.node.store.directory
        await harness.stop()
        var configuration = StorageNode.Configuration(data: data)
        configuration.identity = PeerIdentity()
        await #expect(throws: IdentityError.self) { _ = try await StorageNode.start(configuration, logger: quietLogger) }

        let users = try TemporaryDirectory(prefix: "flud-user-node")
        let user = PeerIdentity()
        var asUser = StorageNode.Configuration(data: users.file("node"))
        asUser.identity = user
        try await StorageNode.start(asUser, logger: quietLogger).stop()
        let again = try await StorageNode.start(asUser, logger: quietLogger)
        #expect(again.identity.publicKey == user.publicKey)
        await again.stop()
        asUser.identity = PeerIdentity()
        await #expect(throws: IdentityError.self) { _ = try await StorageNode.start(asUser, logger: quietLogger) }
        asUser.identity = nil
        await #expect(throws: IdentityError.self) { _ = try await StorageNode.start(asUser, logger: quietLogger) }
    }

    @Test func aFullStoreRefusesAndKeepsWhatItHas() async throws {
        let harness = try await NodeHarness.start {
            $0.store.capacity = 4 << 20
            $0.store.initialMapSize = 1 << 20
        }
        let client = try await harness.client()
        var stored: [(ContentHash, [UInt8])] = []
        var refused: WireStatus?
        for seed in 0..<16 {
            let (key, bytes) = fragment(512 << 10, seed: 500 + UInt64(seed))
            do {
                try await client.store(bytes)
                stored.append((key, bytes))
            } catch {
                refused = refusal(error)
                break
            }
        }
        #expect(refused == .storeFull)
        #expect(!stored.isEmpty)
        for (key, bytes) in stored { #expect(try await client.retrieve(key) == bytes) }
        await client.close()
        await harness.stop()
    }
}
