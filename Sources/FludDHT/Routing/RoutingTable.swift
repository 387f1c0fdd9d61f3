/// The Kademlia routing table of BEP 5: buckets of up to k = 8 contacts that
/// cover the ID space; only the bucket holding our own ID splits, so the table
/// knows many nodes near us and a few far away.
///
/// Contacts are good (answered recently), questionable (silent for 15 minutes)
/// or bad (failed several queries in a row). A full bucket replaces a bad
/// contact at once; otherwise newcomers wait in the bucket's replacement cache
/// and take the place of a contact as soon as it goes bad. A contact is dropped
/// only after repeated failures, never after one lost packet.
///
/// Time is passed in (seconds), so the table is deterministic under test.
public struct RoutingTable: Sendable {
    public static let bucketSize = 8
    /// Seconds of silence after which a contact is questionable (BEP 5).
    public static let questionableAfter: Double = 15 * 60
    /// Failed queries in a row that make a contact bad.
    public static let failuresBeforeBad = 3

    public struct Entry: Sendable, Equatable {
        public var contact: NodeContact
        public var lastSeen: Double
        public var failures: Int

        public func isGood(now: Double) -> Bool {
            failures == 0 && now - lastSeen < RoutingTable.questionableAfter
        }

        public var isBad: Bool { failures >= RoutingTable.failuresBeforeBad }
    }

    struct Bucket: Sendable {
        /// Bucket covers IDs sharing the first `prefixLength` bits with `prefix`.
        var prefixLength: Int
        var entries: [Entry] = []
        var replacements: [Entry] = []
        var lastChanged: Double
    }

    public let ownID: NodeID
    private(set) var buckets: [Bucket]

    public init(ownID: NodeID, now: Double) {
        self.ownID = ownID
        buckets = [Bucket(prefixLength: 0, lastChanged: now)]
    }

    /// Every contact in the table.
    public var contacts: [NodeContact] { buckets.flatMap { $0.entries.map(\.contact) } }
    public var count: Int { buckets.reduce(0) { $0 + $1.entries.count } }

    /// The bucket covering `id`: buckets are ordered by prefix length, the last
    /// one (which holds our own ID) covers everything sharing more bits.
    private func bucketIndex(for id: NodeID) -> Int {
        min(ownID.commonPrefixLength(with: id), buckets.count - 1)
    }

    /// Records that `contact` answered a query or sent us one.
    public mutating func heard(from contact: NodeContact, now: Double) {
        guard contact.id != ownID else { return }
        var index = bucketIndex(for: contact.id)
        if let position = buckets[index].entries.firstIndex(where: { $0.contact.id == contact.id }) {
            buckets[index].entries[position] = Entry(contact: contact, lastSeen: now, failures: 0)
            buckets[index].lastChanged = now
            return
        }
        while buckets[index].entries.count >= Self.bucketSize {
            if let bad = buckets[index].entries.firstIndex(where: \.isBad) {
                buckets[index].entries.remove(at: bad)
                break
            }
            // Only the last bucket (our own range) splits, and not beyond 160 bits.
            guard index == buckets.count - 1, buckets[index].prefixLength < 159 else {
                addReplacement(Entry(contact: contact, lastSeen: now, failures: 0), to: index)
                return
            }
            split(now: now)
            index = bucketIndex(for: contact.id)
        }
        buckets[index].entries.append(Entry(contact: contact, lastSeen: now, failures: 0))
        buckets[index].replacements.removeAll { $0.contact.id == contact.id }
        buckets[index].lastChanged = now
    }

    /// Records that a query to `id` went unanswered; a contact that fails
    /// repeatedly is replaced from the bucket's replacement cache.
    public mutating func failed(_ id: NodeID) {
        let index = bucketIndex(for: id)
        guard let position = buckets[index].entries.firstIndex(where: { $0.contact.id == id }) else { return }
        buckets[index].entries[position].failures += 1
        if buckets[index].entries[position].isBad, !buckets[index].replacements.isEmpty {
            buckets[index].entries.remove(at: position)
            buckets[index].entries.append(buckets[index].replacements.removeLast())
        }
    }

    /// The `count` contacts closest to `target` by XOR distance, bad ones last.
    /// Never empty while the table holds any contact.
    public func closest(to target: NodeID, count: Int = bucketSize) -> [NodeContact] {
        // Every node answers every lookup query with this: a bounded selection
        // on XOR distances computed once per contact, no sort of the table.
        var usable = ClosestSelection(count: count)
        var bad = ClosestSelection(count: count)
        for bucket in buckets {
            for entry in bucket.entries {
                let distance = entry.contact.id.distance(to: target)
                if entry.isBad { bad.offer(entry.contact, at: distance) } else { usable.offer(entry.contact, at: distance) }
            }
        }
        return Array((usable.contacts + bad.contacts).prefix(count))
    }

    /// The contact at `ipv4`:`port`, if the table holds one.
    public func contact(ipv4: UInt32, port: UInt16) -> NodeContact? {
        for bucket in buckets {
            if let entry = bucket.entries.first(where: { $0.contact.ipv4 == ipv4 && $0.contact.port == port }) { return entry.contact }
        }
        return nil
    }

    /// Contacts that have been silent long enough to deserve a ping.
    public func questionable(now: Double) -> [NodeContact] {
        buckets.flatMap { $0.entries.filter { !$0.isGood(now: now) && !$0.isBad }.map(\.contact) }
    }

    /// A random target in each bucket unchanged for `idleSeconds` (BEP 5: 15
    /// minutes); looking it up refreshes the bucket.
    public func refreshTargets<Generator: RandomNumberGenerator>(now: Double, idleSeconds: Double = questionableAfter,
                                                                 using generator: inout Generator) -> [NodeID] {
        buckets.enumerated().compactMap { index, bucket in
            guard now - bucket.lastChanged >= idleSeconds else { return nil }
            let prefix = min(bucket.prefixLength, 159)
            return index == buckets.count - 1 ? NodeID.random(using: &generator) : ownID.randomID(sharingPrefix: prefix, using: &generator)
        }
    }

    private mutating func split(now: Double) {
        let last = buckets.removeLast()
        var far = Bucket(prefixLength: last.prefixLength, lastChanged: now)
        var near = Bucket(prefixLength: last.prefixLength + 1, lastChanged: now)
        for entry in last.entries {
            if entry.contact.id.commonPrefixLength(with: ownID) > last.prefixLength {
                near.entries.append(entry)
            } else {
                far.entries.append(entry)
            }
        }
        for entry in last.replacements where entry.contact.id.commonPrefixLength(with: ownID) == last.prefixLength {
            far.replacements.append(entry)
        }
        buckets.append(far)
        buckets.append(near)
    }

    private mutating func addReplacement(_ entry: Entry, to index: Int) {
        buckets[index].replacements.removeAll { $0.contact.id == entry.contact.id }
        buckets[index].replacements.append(entry)
        if buckets[index].replacements.count > Self.bucketSize { buckets[index].replacements.removeFirst() }
    }
}

/// The `count` contacts of smallest distance offered so far, closest first.
struct ClosestSelection {
    let count: Int
    private var kept: [(distance: NodeID, contact: NodeContact)] = []

    init(count: Int) {
        self.count = count
        kept.reserveCapacity(count + 1)
    }

    mutating func offer(_ contact: NodeContact, at distance: NodeID) {
        if kept.count == count, let last = kept.last, !(distance < last.distance) { return }
        var position = kept.endIndex
        while position > 0, distance < kept[position - 1].distance { position -= 1 }
        kept.insert((distance, contact), at: position)
        if kept.count > count { kept.removeLast() }
    }

    var contacts: [NodeContact] { kept.map(\.contact) }
}
