extension DHTNode {
    /// Stores `item` on the k nodes closest to its target (BEP 44 `put`):
    /// looks them up, asks each for a write token with `get`, then puts.
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
        let holders = await lookup(target)
        let outcomes = await withTaskGroup(of: Result<Void, Error>.self) { group in
            for holder in holders {
                group.addTask {
                    do {
                        let address = try DHTNode.address("\(holder.host):\(holder.port)")
                        let answer = try await self.query("get", ["target": .bytes(target.bytes)], to: address)
                        guard let token = answer.values["token"]?.bytesValue else {
                            throw DHTError.malformedResponse("no write token")
                        }
                        var put = putArguments
                        put["token"] = .bytes(token)
                        _ = try await self.query("put", put, to: address)
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

    /// Gets the item stored at `target` from the nodes closest to it
    /// (BEP 44 `get`). Answers that do not match the target (immutable) or
    /// carry a bad signature (mutable) are ignored; of mutable items the one
    /// with the highest sequence number wins. Nil when nobody has it.
    ///
    /// When none of the k closest nodes found has it (their set can differ from
    /// the one the put saw), the next k closest this node knows are asked too.
    ///
    /// - Parameter salt: for mutable items, the salt the target was made with.
    public func get(_ target: NodeID, salt: [UInt8] = []) async -> StoredItem? {
        let closest = await lookup(target)
        if let item = await ask(closest, for: target, salt: salt) { return item }
        let asked = Set(closest.map(\.id))
        let next = await closestKnown(to: target, count: 3 * RoutingTable.bucketSize).filter { !asked.contains($0.id) }
        return await ask(Array(next.prefix(RoutingTable.bucketSize)), for: target, salt: salt)
    }

    /// Sends `get` to each holder and returns the best valid answer.
    private func ask(_ holders: [NodeContact], for target: NodeID, salt: [UInt8]) async -> StoredItem? {
        let answers = await withTaskGroup(of: StoredItem?.self) { group in
            for holder in holders {
                group.addTask {
                    guard let address = try? DHTNode.address("\(holder.host):\(holder.port)"),
                          let answer = try? await self.query("get", ["target": .bytes(target.bytes)], to: address,
                                                             retransmissions: DHTNode.lookupRetransmissions),
                          let value = answer.values["v"] else { return nil }
                    var item = StoredItem(immutable: value)
                    if let publicKey = answer.values["k"]?.bytesValue, let signature = answer.values["sig"]?.bytesValue,
                       let sequence = answer.values["seq"]?.integerValue {
                        item.mutable = StoredItem.Mutable(publicKey: publicKey, salt: salt, sequence: sequence, signature: signature)
                    }
                    guard item.target == target, item.validate() == nil else { return nil }
                    return item
                }
            }
            return await group.reduce(into: [StoredItem]()) { if let item = $1 { $0.append(item) } }
        }
        return answers.max { ($0.mutable?.sequence ?? 0) < ($1.mutable?.sequence ?? 0) }
    }
}
