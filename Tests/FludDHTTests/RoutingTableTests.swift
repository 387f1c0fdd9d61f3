import FludTestSupport
import Testing
@testable import FludDHT

struct NodeIDTests {
    @Test func distanceAndPrefix() {
        let zero = NodeID(bytes: [UInt8](repeating: 0, count: 20))!
        let one = NodeID(hex: "0000000000000000000000000000000000000001")!
        let top = NodeID(hex: "8000000000000000000000000000000000000000")!
        #expect(zero.distance(to: one) == one)
        #expect(zero.commonPrefixLength(with: one) == 159)
        #expect(zero.commonPrefixLength(with: top) == 0)
        #expect(zero.commonPrefixLength(with: zero) == 160)
        #expect(top.bit(0) && !top.bit(1))
        #expect(NodeID(hex: "xyz") == nil)
        #expect(top.hex == "8000000000000000000000000000000000000000")
    }

    @Test func randomIDsLandInTheRequestedBucket() {
        var random = SplitMix64(seed: 1)
        let own = NodeID.random(using: &random)
        for prefix in [0, 1, 7, 8, 100, 159] {
            #expect(own.randomID(sharingPrefix: prefix, using: &random).commonPrefixLength(with: own) == prefix)
        }
    }

    @Test func compactNodeInfoRoundTrips() {
        var random = SplitMix64(seed: 2)
        let contacts = (0..<5).map { NodeContact(id: .random(using: &random), address: [127, 0, 0, UInt8($0)], port: 6881 + UInt16($0)) }
        let encoded = contacts.flatMap(\.compact)
        #expect(encoded.count == 5 * 26)
        #expect(NodeContact.decodeCompact(encoded) == contacts)
        #expect(NodeContact.decodeCompact(Array(encoded.dropLast())) == nil)
    }
}

struct RoutingTableTests {
    func contact(_ id: NodeID, _ port: UInt16 = 1) -> NodeContact { NodeContact(id: id, address: [127, 0, 0, 1], port: port) }

    @Test func bucketsSplitAroundOurOwnID() {
        var random = SplitMix64(seed: 3)
        let own = NodeID.random(using: &random)
        var table = RoutingTable(ownID: own, now: 0)
        table.heard(from: contact(own), now: 0)
        #expect(table.count == 0, "we never route to ourselves")
        let ids = (0..<2000).map { _ in NodeID.random(using: &random) }
        for id in ids { table.heard(from: contact(id), now: 1) }
        #expect(table.buckets.count > 5)
        #expect(table.buckets.allSatisfy { $0.entries.count <= RoutingTable.bucketSize })
        #expect(table.count <= table.buckets.count * RoutingTable.bucketSize)
        // The nodes nearest to us are all kept: the last buckets are never full of strangers.
        let nearest = ids.sorted { $0.distance(to: own) < $1.distance(to: own) }.prefix(4)
        let known = Set(table.contacts.map(\.id))
        #expect(nearest.allSatisfy(known.contains))
    }

    @Test func closestIsSortedByDistanceAndNeverEmpty() {
        var random = SplitMix64(seed: 4)
        var table = RoutingTable(ownID: .random(using: &random), now: 0)
        let ids = (0..<50).map { _ in NodeID.random(using: &random) }
        for id in ids { table.heard(from: contact(id), now: 0) }
        let target = NodeID.random(using: &random)
        let closest = table.closest(to: target)
        #expect(closest.count == 8)
        let distances = closest.map { $0.id.distance(to: target) }
        #expect(distances == distances.sorted())
        // Regression: a lookup must not come back empty while the table has contacts,
        // even when every one of them has failed.
        for id in table.contacts.map(\.id) {
            for _ in 0..<RoutingTable.failuresBeforeBad { table.failed(id) }
        }
        #expect(!table.closest(to: target).isEmpty)
    }

    @Test func aContactIsReplacedOnlyAfterRepeatedFailures() {
        let own = NodeID(bytes: [UInt8](repeating: 0, count: 20))!
        var table = RoutingTable(ownID: own, now: 0)
        // Nine IDs far from us (first bit set) all fall in one bucket that cannot split.
        var random = SplitMix64(seed: 5)
        let far = (0..<9).map { _ in own.randomID(sharingPrefix: 0, using: &random) }
        // One near contact forces the first split, so the far bucket is not the last.
        table.heard(from: contact(own.randomID(sharingPrefix: 10, using: &random)), now: 0)
        for id in far { table.heard(from: contact(id), now: 0) }
        let known = Set(table.contacts.map(\.id))
        #expect(known.isSuperset(of: far.prefix(8)) && !known.contains(far[8]), "the ninth waits in the replacement cache")
        table.failed(far[0])
        table.failed(far[0])
        #expect(table.contacts.contains { $0.id == far[0] }, "two lost packets do not drop a contact")
        table.failed(far[0])
        #expect(!table.contacts.contains { $0.id == far[0] })
        #expect(table.contacts.contains { $0.id == far[8] }, "the replacement took its place")
    }

    @Test func silentContactsBecomeQuestionableAndIdleBucketsAskForRefresh() {
        var random = SplitMix64(seed: 6)
        var table = RoutingTable(ownID: .random(using: &random), now: 0)
        for _ in 0..<30 { table.heard(from: contact(.random(using: &random)), now: 0) }
        #expect(table.questionable(now: 60).isEmpty)
        #expect(table.questionable(now: RoutingTable.questionableAfter + 1).count == table.count)
        #expect(table.refreshTargets(now: 60, using: &random).isEmpty)
        let targets = table.refreshTargets(now: RoutingTable.questionableAfter + 1, using: &random)
        #expect(targets.count == table.buckets.count)
    }
}

struct TokenIssuerTests {
    @Test func tokensAreBoundToTheAddressAndExpireAfterTwoRotations() {
        var issuer = TokenIssuer(now: 0)
        let home: [UInt8] = [127, 0, 0, 1], other: [UInt8] = [127, 0, 0, 2]
        let token = issuer.token(for: home, now: 10)
        #expect(token.count == 8)
        let sameAddress = issuer.isValid(token, for: home, now: 20)
        let otherAddress = issuer.isValid(token, for: other, now: 20)
        let junk = issuer.isValid([1, 2, 3], for: home, now: 30)
        let afterOneRotation = issuer.isValid(token, for: home, now: TokenIssuer.rotationSeconds + 1)
        let afterTwoRotations = issuer.isValid(token, for: home, now: 2 * TokenIssuer.rotationSeconds + 1)
        #expect(sameAddress)
        #expect(!otherAddress, "a token only works for the address it was given to")
        #expect(!junk)
        #expect(afterOneRotation, "still valid after one rotation")
        #expect(!afterTwoRotations, "gone after two")
        var idle = TokenIssuer(now: 0)
        let early = idle.token(for: home, now: 0)
        let afterAnHour = idle.isValid(early, for: home, now: 3600)
        #expect(!afterAnHour, "a long pause voids every earlier token")
    }
}
