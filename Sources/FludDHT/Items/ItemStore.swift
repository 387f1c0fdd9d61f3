/// The BEP 44 items a node holds for others: bounded in number, each kept for
/// two hours after its last put (owners republish), so memory stays bounded
/// whatever peers send.
struct ItemStore {
    static let capacity = 10_000
    static let lifetime: Double = 2 * 60 * 60

    private var items: [NodeID: (item: StoredItem, storedAt: Double)] = [:]
    /// Targets stored or dropped since the last ``drainChanges()``, for saving.
    private var changed = Set<NodeID>()

    func item(at target: NodeID, now: Double) -> StoredItem? {
        guard let entry = items[target], now - entry.storedAt < Self.lifetime else { return nil }
        return entry.item
    }

    /// Stores a validated item, or says why not (BEP 44 errors 301, 302).
    mutating func store(_ item: StoredItem, cas: Int64?, now: Double) -> KRPCError? {
        let target = item.target
        if let mutable = item.mutable, let existing = self.item(at: target, now: now)?.mutable {
            if let cas, cas != existing.sequence { return KRPCError(code: .casMismatch, message: "CAS mismatch") }
            if mutable.sequence < existing.sequence || (mutable.sequence == existing.sequence && item != items[target]?.item) {
                return KRPCError(code: .sequenceTooLow, message: "sequence number less than current")
            }
        }
        if items[target] == nil, items.count >= Self.capacity { evict(now: now) }
        guard items[target] != nil || items.count < Self.capacity else { return KRPCError(code: .server, message: "storage full") }
        items[target] = (item, now)
        changed.insert(target)
        return nil
    }

    /// Takes back an item saved earlier, stored `age` seconds before `now`;
    /// false if it is invalid or has expired.
    mutating func restore(_ item: StoredItem, age: Double, now: Double) -> Bool {
        guard age < Self.lifetime, item.validate() == nil, items.count < Self.capacity else { return false }
        items[item.target] = (item, now - age)
        return true
    }

    /// What changed since the last call: each target with its item and the
    /// item's age in seconds, or nil if the item is gone.
    mutating func drainChanges(now: Double) -> [(target: NodeID, held: (item: StoredItem, age: Double)?)] {
        defer { changed.removeAll(keepingCapacity: true) }
        return changed.map { target in
            (target, items[target].flatMap { now - $0.storedAt < Self.lifetime ? ($0.item, now - $0.storedAt) : nil })
        }
    }

    /// Drops expired items, or else the oldest one.
    private mutating func evict(now: Double) {
        let expired = items.filter { now - $0.value.storedAt >= Self.lifetime }.keys
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
