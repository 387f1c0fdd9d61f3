/// A Kademlia network of many nodes in one process, on a virtual clock and
/// without sockets: each node has a real ``RoutingTable``, and lookups run the
/// node's own ``LookupState`` with α = 3 queries in flight. Messages take a
/// random virtual latency; a query to a departed node costs a virtual timeout.
/// It shows what no loopback testbed can: how lookups scale to 10,000 nodes
/// and beyond, and how they fare when half of the nodes leave.
///
/// Nodes join as real ones do (``DHTNode/bootstrap(from:)``): they learn one
/// live node, look up their own ID, then a random ID in each bucket's range.
/// The nodes they ask learn of them in turn; no table is filled by hand.
public struct SimulatedNetwork<Generator: RandomNumberGenerator> {
    /// One simulated lookup, and how it went.
    public struct LookupReport: Sendable {
        /// Discovery hops to the closest node found: a node the origin knew is
        /// one hop away, a node it learned from a k-hop node is k + 1 hops away.
        public var hops: Int
        public var messages: Int
        public var timeouts: Int
        /// Virtual time from the first query to the end of the lookup.
        public var milliseconds: Double
        /// Whether the closest live node to the target was found.
        public var foundClosest: Bool
    }

    public let latency: ClosedRange<Double>
    public let timeout: Double
    /// The brief wait for a contact that went silent on the asking node before.
    public let suspectTimeout: Double
    private var random: Generator
    private var ids: [NodeID] = []
    private var tables: [RoutingTable] = []
    private var alive: [Bool] = []
    private var indexByID: [NodeID: Int] = [:]
    /// Per node, the contacts whose queries timed out: asked again, but briefly.
    private var suspects: [Set<NodeID>] = []
    /// Virtual seconds since the simulation began.
    private var now: Double = 0

    /// - Parameters:
    ///   - latency: one-way message latency in virtual seconds, drawn uniformly.
    ///   - timeout: virtual seconds a query to a departed node waits.
    ///   - suspectTimeout: the same, when it already went silent on the asker.
    public init(latency: ClosedRange<Double> = 0.005...0.050, timeout: Double = 0.5, suspectTimeout: Double = 0.1,
                using random: Generator) {
        self.latency = latency
        self.timeout = timeout
        self.suspectTimeout = suspectTimeout
        self.random = random
    }

    public private(set) var liveCount = 0

    /// Adds a node that bootstraps from a random live node, or starts the
    /// network if there is none.
    public mutating func join() {
        let id = NodeID.random(using: &random)
        guard indexByID[id] == nil else { return join() }
        let index = ids.count
        ids.append(id)
        tables.append(RoutingTable(ownID: id, now: now))
        alive.append(true)
        liveCount += 1
        suspects.append([])
        indexByID[id] = index
        guard index > 0, liveCount > 1 else { return }
        var seed = Int.random(in: 0..<index, using: &random)
        while !alive[seed] { seed = Int.random(in: 0..<index, using: &random) }
        tables[index].heard(from: contact(seed), now: now)
        _ = walk(from: index, target: id)
        for target in tables[index].refreshTargets(now: now, idleSeconds: 0, using: &random) {
            _ = walk(from: index, target: target)
        }
    }

    /// Makes `fraction` of the live nodes leave without a goodbye: they stop
    /// answering, and the others find out only by asking them.
    public mutating func depart(fraction: Double) {
        let live = alive.indices.filter { alive[$0] }
        for index in live.shuffled(using: &random).prefix(Int((fraction * Double(live.count)).rounded())) {
            alive[index] = false
            liveCount -= 1
        }
    }

    /// Lets `seconds` of virtual time pass, then has every live node do what
    /// ``DHTNode/maintain()`` does once a minute: ping the contacts that have
    /// gone quiet (dead ones fail, and after three failures make room) and
    /// look up a random ID in each bucket that has been idle for 15 minutes.
    public mutating func upkeep(after seconds: Double) {
        now += seconds
        for node in alive.indices where alive[node] {
            for contact in tables[node].questionable(now: now) {
                if let other = indexByID[contact.id], alive[other] {
                    tables[other].heard(from: self.contact(node), now: now)
                    tables[node].heard(from: contact, now: now)
                } else {
                    tables[node].failed(contact.id)
                }
            }
            for target in tables[node].refreshTargets(now: now, using: &random) {
                _ = walk(from: node, target: target)
            }
        }
    }

    /// A random live node.
    public mutating func randomLiveNode() -> Int {
        alive.indices.filter { alive[$0] }.randomElement(using: &random)!
    }

    /// A lookup of a random target from a random live node.
    public mutating func randomLookup() -> LookupReport {
        let origin = randomLiveNode()
        return lookup(from: origin, target: NodeID.random(using: &random))
    }

    /// Runs one lookup from node `origin`, message by message in virtual
    /// time, and checks its result against every live node.
    public mutating func lookup(from origin: Int, target: NodeID) -> LookupReport {
        var (report, closest) = walk(from: origin, target: target)
        let (ids, alive) = (self.ids, self.alive)
        let truth = ids.indices.lazy.filter { alive[$0] && $0 != origin }.min { ids[$0].isCloser(than: ids[$1], to: target) }
        report.foundClosest = closest != nil && truth.map { ids[$0] == closest } ?? true
        return report
    }

    /// One lookup, and the closest node that answered it.
    private mutating func walk(from origin: Int, target: NodeID) -> (LookupReport, NodeID?) {
        let known = tables[origin].closest(to: target, count: LookupState.startingCandidates(RoutingTable.bucketSize))
        var state = LookupState(target: target, count: RoutingTable.bucketSize, ownID: ids[origin], startingFrom: known)
        var hops: [NodeID: Int] = [:]
        for contact in known { hops[contact.id] = 1 }
        var inFlight: [(arrives: Double, contact: NodeContact)] = []
        var report = LookupReport(hops: 0, messages: 0, timeouts: 0, milliseconds: 0, foundClosest: false)
        var clock = 0.0
        while true {
            while state.inFlight < DHTNode.lookupParallelism, let contact = state.next() {
                report.messages += 1
                let live = indexByID[contact.id].map { alive[$0] } ?? false
                // As the node does: a contact that went silent on us before gets a brief wait.
                let wait = live ? Double.random(in: latency, using: &random) + Double.random(in: latency, using: &random)
                    : suspects[origin].contains(contact.id) ? suspectTimeout : timeout
                inFlight.append((clock + wait, contact))
            }
            guard let next = inFlight.indices.min(by: { inFlight[$0].arrives < inFlight[$1].arrives }) else { break }
            let (arrives, contact) = inFlight.remove(at: next)
            clock = arrives
            let now = self.now + clock
            guard let responder = indexByID[contact.id], alive[responder] else {
                report.timeouts += 1
                tables[origin].failed(contact.id)
                suspects[origin].insert(contact.id)
                state.failed(contact)
                continue
            }
            tables[responder].heard(from: self.contact(origin), now: now)
            tables[origin].heard(from: contact, now: now)
            suspects[origin].remove(contact.id)
            let found = tables[responder].closest(to: target)
            for node in found where hops[node.id] == nil { hops[node.id] = hops[contact.id, default: 1] + 1 }
            state.received(found, from: contact)
        }
        now += clock
        report.milliseconds = clock * 1000
        let closest = state.answered.first
        report.hops = closest.map { hops[$0.id, default: 1] } ?? 0
        return (report, closest?.id)
    }

    /// Node `index` as others know it: a distinct made-up address per node.
    private func contact(_ index: Int) -> NodeContact {
        NodeContact(id: ids[index], address: [10, UInt8(index >> 16 & 0xFF), UInt8(index >> 8 & 0xFF), UInt8(index & 0xFF)],
                    port: 6881)
    }
}
