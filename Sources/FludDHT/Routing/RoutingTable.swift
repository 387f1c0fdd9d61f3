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
        var usable: [NodeContact] = []
        var bad: [NodeContact] = []
        usable.reserveCapacity(count + 1)
        for bucket in buckets {
            for entry in bucket.entries {
                if entry.isBad {
                    Self.keepClosest(entry.contact, in: &bad, count: count, to: target)
                } else {
                    Self.keepClosest(entry.contact, in: &usable, count: count, to: target)
                }
            }
        }
        return Array((usable + bad).prefix(count))
    }

    /// Inserts `contact` into `closest` (sorted, closest first) if it is among
    /// the `count` closest to `target`: a bounded selection, no full sort.
    private static func keepClosest(_ contact: NodeContact, in closest: inout [NodeContact], count: Int, to target: NodeID) {
        if closest.count == count, let last = closest.last, !contact.id.isCloser(than: last.id, to: target) { return }
        let position = closest.firstIndex { contact.id.isCloser(than: $0.id, to: target) } ?? closest.endIndex
        closest.insert(contact, at: position)
        if closest.count > count { closest.removeLast() }
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
