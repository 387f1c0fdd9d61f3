import FludTestSupport
import Testing
@testable import FludDHT

/// The lookup's bookkeeping on its own, and on simulated networks far larger
/// than loopback allows.
struct LookupTests {
    /// An ID at XOR distance `distance` from the all-zero target.
    func contact(_ distance: UInt8) -> NodeContact {
        NodeContact(id: NodeID(bytes: [UInt8](repeating: 0, count: 19) + [distance])!, address: [10, 0, 0, distance], port: 6881)
    }

    let target = NodeID(bytes: [UInt8](repeating: 0, count: 20))!
    let me = NodeID(bytes: [UInt8](repeating: 0xFF, count: 20))!

    @Test func closerContactsAreAskedFirstAndTheLookupEndsWhenNoneIsLeft() {
        var state = LookupState(target: target, count: 2, ownID: me, startingFrom: [contact(40), contact(30), contact(50)])
        #expect(state.next() == contact(30))
        #expect(state.next() == contact(40))
        state.received([contact(10), contact(20), contact(60)], from: contact(30))
        #expect(state.next() == contact(10), "a closer contact learned from an answer goes first")
        state.received([], from: contact(10))
        state.received([], from: contact(40))
        #expect(state.next() == contact(20), "closer than the second closest answered")
        state.received([], from: contact(20))
        #expect(state.next() == nil, "50 and 60 are farther than the two closest that answered")
        #expect(state.inFlight == 0)
        #expect(state.result == [contact(10), contact(20)])
    }

    @Test func aLookupWhereNobodyAnswersReturnsTheClosestKnown() {
        var state = LookupState(target: target, count: 8, ownID: me, startingFrom: [contact(20), contact(10)])
        while let next = state.next() { state.failed(next) }
        #expect(state.result == [contact(10), contact(20)])
    }

    /// Nodes join one by one as real ones do; lookups from random nodes find
    /// the node closest to random targets, and take more hops as the network
    /// grows (log N).
    @Test func simulatedLookupsFindTheClosestNodeInHopsThatGrowWithTheNetwork() {
        var hopsBySize: [Int: Double] = [:]
        for size in [64, 1024] {
            var network = SimulatedNetwork(using: SplitMix64(seed: UInt64(size)))
            for _ in 0..<size { network.join() }
            let reports = (0..<200).map { _ in network.randomLookup() }
            #expect(reports.filter(\.foundClosest).count == reports.count, "\(size) nodes")
            #expect(reports.allSatisfy { $0.timeouts == 0 })
            hopsBySize[size] = Double(reports.map(\.hops).reduce(0, +)) / Double(reports.count)
        }
        #expect(hopsBySize[1024]! > hopsBySize[64]! + 0.5, "\(hopsBySize)")
    }

    /// Half the nodes leave without a goodbye: lookups still find the closest
    /// live node, and a node's second lookup of a target takes far less time
    /// than its first, because it waits only briefly on the nodes that went
    /// silent on it before.
    @Test func lookupsSurviveHalfTheNetworkLeaving() {
        var network = SimulatedNetwork(using: SplitMix64(seed: 5))
        for _ in 0..<512 { network.join() }
        network.depart(fraction: 0.5)
        var random = SplitMix64(seed: 6)
        let plans = (0..<100).map { _ in (network.randomLiveNode(), NodeID.random(using: &random)) }
        let first = plans.map { network.lookup(from: $0.0, target: $0.1) }
        let second = plans.map { network.lookup(from: $0.0, target: $0.1) }
        #expect(Double(first.filter(\.foundClosest).count) >= 95, "first pass")
        #expect(Double(second.filter(\.foundClosest).count) >= 95, "second pass")
        let (firstTime, secondTime) = (first.map(\.milliseconds).reduce(0, +), second.map(\.milliseconds).reduce(0, +))
        #expect(secondTime < firstTime / 2, "\(secondTime) ms against \(firstTime) ms")
    }
}
