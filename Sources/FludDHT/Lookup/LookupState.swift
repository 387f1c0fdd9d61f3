/// The bookkeeping of one iterative Kademlia lookup, apart from any transport:
/// which contacts to ask next, who answered, when to stop. ``DHTNode`` drives
/// it with UDP queries on its event loop; the simulator drives the same code
/// with virtual messages, so what the simulation shows is what the node does.
///
/// A driver keeps calling ``next()`` while it has room for another query in
/// flight; the lookup is over when ``next()`` returns nil with nothing in flight.
/// A contact is asked only while it is closer to the target than the `count`
/// closest that have answered.
public struct LookupState {
    public let target: NodeID
    public let count: Int
    private let ownID: NodeID
    /// Every contact met, closest first.
    private var candidates: [NodeContact] = []
    private var seen = Set<NodeID>()
    private var asked = Set<NodeID>()
    /// Contacts that answered, closest first.
    public private(set) var answered: [NodeContact] = []
    public private(set) var inFlight = 0

    /// How many of its closest known contacts a lookup for `count` should
    /// start from: more than `count`, because when some of the closest have
    /// died, the others' answers name the same dead ones (they have not found
    /// out yet) and nobody beyond; the extra, farther contacts are asked only
    /// if fewer than `count` closer ones answer.
    public static func startingCandidates(_ count: Int) -> Int { 3 * count }

    public init(target: NodeID, count: Int, ownID: NodeID, startingFrom known: [NodeContact]) {
        self.target = target
        self.count = count
        self.ownID = ownID
        learn(known)
    }

    /// The next contact to query (now counted in flight), or nil if none should be now.
    public mutating func next() -> NodeContact? {
        let worst = answered.count >= count ? answered[count - 1].id : nil
        guard let candidate = candidates.first(where: { !asked.contains($0.id) }),
              worst.map({ candidate.id.isCloser(than: $0, to: target) }) ?? true else { return nil }
        asked.insert(candidate.id)
        inFlight += 1
        return candidate
    }

    /// `contact` answered, naming `found` as closer contacts.
    public mutating func received(_ found: [NodeContact], from contact: NodeContact) {
        inFlight -= 1
        answered.insert(contact, at: answered.firstIndex { contact.id.isCloser(than: $0.id, to: target) } ?? answered.endIndex)
        learn(found)
    }

    /// A query to `contact` failed or timed out.
    public mutating func failed(_ contact: NodeContact) {
        inFlight -= 1
    }

    /// The `count` closest that answered; when none did, the closest known, so
    /// a lookup never comes back empty while it knew of any contact.
    public var result: [NodeContact] {
        answered.isEmpty ? Array(candidates.prefix(count)) : Array(answered.prefix(count))
    }

    private mutating func learn(_ contacts: [NodeContact]) {
        for contact in contacts where contact.id != ownID && seen.insert(contact.id).inserted {
            let position = candidates.firstIndex { contact.id.isCloser(than: $0.id, to: target) } ?? candidates.endIndex
            candidates.insert(contact, at: position)
        }
    }
}
