/// An item as a node holds it: when it was last put (it expires a lifetime
/// later) and when this version first arrived (a node republishes it only
/// within a lifetime of that, so copies passed around cannot live forever).
public struct HeldItem: Sendable, Equatable {
    public var item: StoredItem
    public var storedAt: Double
    public var firstSeen: Double

    public init(item: StoredItem, storedAt: Double, firstSeen: Double) {
        self.item = item
        self.storedAt = storedAt
        self.firstSeen = firstSeen
    }

    /// The same item with both times moved to another clock.
    func shifted(by offset: Double) -> HeldItem {
        HeldItem(item: item, storedAt: storedAt + offset, firstSeen: firstSeen + offset)
    }
}

/// The BEP 44 items a node holds for others: bounded in number, each kept for
/// `lifetime` after its last put, so memory stays bounded whatever peers send.
struct ItemStore {
    static let capacity = 10_000
    /// BEP 44's suggestion; nodes that republish keep items much longer.
    static let defaultLifetime: Double = 2 * 60 * 60

    let lifetime: Double
    private var items: [NodeID: HeldItem] = [:]
    /// Targets stored or dropped since the last ``drainChanges(now:)``, for saving.
    private var changed = Set<NodeID>()

    init(lifetime: Double = defaultLifetime) {
        self.lifetime = lifetime
    }

    func item(at target: NodeID, now: Double) -> StoredItem? {
        guard let held = items[target], now - held.storedAt < lifetime else { return nil }
        return held.item
    }

    /// Stores a validated item, or says why not (BEP 44 errors 301, 302). The
    /// same item put again is refreshed but keeps its first-seen time.
    mutating func store(_ item: StoredItem, cas: Int64?, now: Double) -> KRPCError? {
        let target = item.target
        let existing = self.item(at: target, now: now)
        if let mutable = item.mutable, let existing = existing?.mutable {
            if let cas, cas != existing.sequence { return KRPCError(code: .casMismatch, message: "CAS mismatch") }
            if mutable.sequence < existing.sequence || (mutable.sequence == existing.sequence && item != items[target]?.item) {
                return KRPCError(code: .sequenceTooLow, message: "sequence number less than current")
            }
        }
        if items[target] == nil, items.count >= Self.capacity { evict(now: now) }
        guard items[target] != nil || items.count < Self.capacity else { return KRPCError(code: .server, message: "storage full") }
        let firstSeen = existing == item ? items[target]!.firstSeen : now
        items[target] = HeldItem(item: item, storedAt: now, firstSeen: firstSeen)
        changed.insert(target)
        return nil
    }

    /// Takes back an item saved earlier (its times relative to `now`); false
    /// if it is invalid or has expired.
    mutating func restore(_ held: HeldItem, now: Double) -> Bool {
        guard now - held.storedAt < lifetime, held.item.validate() == nil, items.count < Self.capacity else { return false }
        items[held.item.target] = held
        return true
    }

    /// What changed since the last call: each target with its item, or nil if
    /// the item is gone.
    mutating func drainChanges(now: Double) -> [(target: NodeID, held: HeldItem?)] {
        defer { changed.removeAll(keepingCapacity: true) }
        return changed.map { target in (target, items[target].flatMap { now - $0.storedAt < lifetime ? $0 : nil }) }
    }

    /// Items to pass on to the nodes now closest to them: those whose version
    /// arrived here less than a lifetime ago.
    func dueForRepublishing(now: Double) -> [StoredItem] {
        items.values.filter { now - $0.storedAt < lifetime && now - $0.firstSeen < lifetime }.map(\.item)
    }

    /// Drops expired items, or else the oldest one.
    private mutating func evict(now: Double) {
        let expired = items.filter { now - $0.value.storedAt >= lifetime }.keys
        for target in expired { items[target] = nil }
        changed.formUnion(expired)
        if expired.isEmpty, let oldest = items.min(by: { $0.value.storedAt < $1.value.storedAt })?.key {
            items[oldest] = nil
            changed.insert(oldest)
        }
    }

    /// The item a `put` query carries, checked (size, salt, signature).
    static func item(fromPut arguments: BencodeDictionary) -> Result<StoredItem, KRPCError> {
        guard let value = arguments["v"] else { return .failure(.protocolError("put needs a value 'v'")) }
        var item = StoredItem(immutable: value)
        if let publicKey = arguments["k"]?.bytesValue {
            guard publicKey.count == 32, let signature = arguments["sig"]?.bytesValue, signature.count == 64,
                  let sequence = arguments["seq"]?.integerValue else {
                return .failure(.protocolError("a mutable put needs 'k' (32 bytes), 'sig' (64 bytes) and 'seq'"))
            }
            item.mutable = StoredItem.Mutable(publicKey: publicKey, salt: arguments["salt"]?.bytesValue ?? [],
                                              sequence: sequence, signature: signature)
        }
        if let error = item.validate() { return .failure(error) }
        return .success(item)
    }
}
