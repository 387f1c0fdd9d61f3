extension DHTNode {
    /// Stores `item` on the k nodes closest to its target (BEP 44 `put`): one
    /// lookup that asks each node with `get`, so the k closest hand out their
    /// write tokens on the way, then a `put` to each.
    ///
    /// - Parameter cas: for mutable items, only replace the version with this sequence number.
    /// - Returns: how many nodes accepted the item.
    /// - Throws: the first KRPC error when no node accepted it.
    @discardableResult
    public func put(_ item: StoredItem, cas: Int64? = nil) async throws -> Int {
        if let error = item.validate() { throw DHTError.remote(error) }
        let target = item.target
        var arguments: BencodeDictionary = ["v": item.value]
        if let mutable = item.mutable {
            arguments["k"] = .bytes(mutable.publicKey)
            arguments["seq"] = .integer(mutable.sequence)
            arguments["sig"] = .bytes(mutable.signature)
            if !mutable.salt.isEmpty { arguments["salt"] = .bytes(mutable.salt) }
            if let cas { arguments["cas"] = .integer(cas) }
        }
        let putArguments = arguments
        let walk = await walk(to: target, asking: "get", ["target": .bytes(target.bytes)])
        let outcomes = await withTaskGroup(of: Result<Void, Error>.self) { group in
            for holder in walk.closest {
                group.addTask {
                    do {
                        guard let token = walk.answers[holder.id]?.values["token"]?.bytesValue else {
                            throw DHTError.malformedResponse("no write token")
                        }
                        var put = putArguments
                        put["token"] = .bytes(token)
                        _ = try await self.query("put", put, to: holder.socketAddress)
                        return .success(())
                    } catch {
                        return .failure(error)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let stored = outcomes.filter { if case .success = $0 { true } else { false } }.count
        if stored == 0, case let .failure(error)? = outcomes.first { throw error }
        if stored == 0 { throw DHTError.malformedResponse("no node to store the item on") }
        return stored
    }

    /// Gets the item stored at `target` (BEP 44 `get`) with one lookup that
    /// asks each node with `get`. An immutable item proves itself (its hash is
    /// the target), so the first one ends the lookup; of mutable items, the
    /// valid one with the highest sequence number among the nodes asked wins.
    /// Answers that do not match the target or carry a bad signature are
    /// ignored. Nil when nobody has it.
    ///
    /// When none of the nodes the lookup asked has it (the k closest can differ
    /// from those the put saw), the next k closest this node knows are asked too.
    ///
    /// - Parameter salt: for mutable items, the salt the target was made with.
    public func get(_ target: NodeID, salt: [UInt8] = []) async -> StoredItem? {
        let (walk, items) = await lookUpItems(target, salt: salt)
        if let item = Self.newest(items) { return item }
        let next = await closestKnown(to: target, count: 3 * RoutingTable.bucketSize).filter { walk.answers[$0.id] == nil }
        return await ask(Array(next.prefix(RoutingTable.bucketSize)), for: target, salt: salt)
    }

    /// Every valid version of the item at `target` held by the nodes one
    /// lookup asks, newest first: ``get(_:salt:)`` keeps only the newest, and
    /// a writer reads its put back with this to see whether another version,
    /// of the same or a later sequence number, stands beside its own.
    public func versions(_ target: NodeID, salt: [UInt8] = []) async -> [StoredItem] {
        var distinct: [StoredItem] = []
        for item in await lookUpItems(target, salt: salt).items where !distinct.contains(item) { distinct.append(item) }
        return distinct.sorted { ($0.mutable?.sequence ?? 0) > ($1.mutable?.sequence ?? 0) }
    }

    /// One `get` lookup towards `target`, and the valid items its answers carry.
    private func lookUpItems(_ target: NodeID, salt: [UInt8]) async -> (outcome: LookupOutcome, items: [StoredItem]) {
        let walk = await walk(to: target, asking: "get", ["target": .bytes(target.bytes)]) { answer in
            guard let item = Self.item(in: answer, target: target, salt: salt) else { return .proceed }
            return item.mutable == nil ? .finish : .proceedWide
        }
        return (walk, walk.answers.values.compactMap { Self.item(in: $0, target: target, salt: salt) })
    }

    /// The BEP 44 items this node holds for others that were stored or dropped
    /// since the last call (times in Unix seconds; nil when the item is gone).
    /// A node that keeps its items across restarts saves these.
    public func drainItemChanges() async -> [(target: NodeID, held: HeldItem?)] {
        (try? await onLoop { $0.drainItemChanges() }) ?? []
    }

    /// Holds again items saved before a restart (times in Unix seconds);
    /// invalid and expired ones are left out. Returns the targets taken.
    public func restoreItems(_ saved: [HeldItem]) async -> Set<NodeID> {
        (try? await onLoop { $0.restoreItems(saved) }) ?? []
    }

    /// Puts every item this node holds to the nodes now closest to its target
    /// (Kademlia's republishing), eight at a time, so an item outlives the
    /// nodes that first held it and reaches those that joined near it since;
    /// a version is passed on only within a lifetime of its first arrival here.
    /// Returns how many items at least one node accepted.
    @discardableResult
    public func republishHeldItems() async -> Int {
        let due = (try? await onLoop { $0.itemsDueForRepublishing() }) ?? []
        return await withTaskGroup(of: Bool.self) { group in
            var republished = 0
            for (index, item) in due.enumerated() {
                if index >= 8, let done = await group.next(), done { republished += 1 }
                group.addTask { (try? await self.put(item)) != nil }
            }
            for await done in group where done { republished += 1 }
            return republished
        }
    }

    /// Sends `get` to each holder and returns the best valid answer.
    private func ask(_ holders: [NodeContact], for target: NodeID, salt: [UInt8]) async -> StoredItem? {
        let answers = await withTaskGroup(of: StoredItem?.self) { group in
            for holder in holders {
                group.addTask {
                    guard let answer = try? await self.query("get", ["target": .bytes(target.bytes)], to: holder.socketAddress,
                                                             retransmissions: DHTNode.lookupRetransmissions) else { return nil }
                    return Self.item(in: answer, target: target, salt: salt)
                }
            }
            return await group.reduce(into: [StoredItem]()) { if let item = $1 { $0.append(item) } }
        }
        return Self.newest(answers)
    }

    /// The item an answer to `get` carries, if it is valid for `target`.
    private static func item(in answer: QueryAnswer, target: NodeID, salt: [UInt8]) -> StoredItem? {
        guard let value = answer.values["v"] else { return nil }
        var item = StoredItem(immutable: value)
        if let publicKey = answer.values["k"]?.bytesValue, let signature = answer.values["sig"]?.bytesValue,
           let sequence = answer.values["seq"]?.integerValue {
            item.mutable = StoredItem.Mutable(publicKey: publicKey, salt: salt, sequence: sequence, signature: signature)
        }
        guard item.target == target, item.validate() == nil else { return nil }
        return item
    }

    private static func newest(_ items: [StoredItem]) -> StoredItem? {
        items.max { ($0.mutable?.sequence ?? 0) < ($1.mutable?.sequence ?? 0) }
    }
}
