extension DHTNode {
    /// Lookup parallelism (Kademlia's α).
    static let lookupParallelism = 3

    /// An iterative Kademlia lookup: asks the closest known nodes for closer
    /// ones, keeping α queries in flight and sending the next one as soon as any
    /// answer arrives (no synchronous rounds). Ends when the k closest nodes
    /// seen have all answered or failed (each query is sent again within its
    /// timeout while unanswered; see `lookupRetransmissions`). Returns the k
    /// closest that answered;
    /// when none answered, the closest known, so a lookup never comes back
    /// empty while the routing table holds contacts.
    public func lookup(_ target: NodeID, count: Int = RoutingTable.bucketSize) async -> [NodeContact] {
        var candidates = await closestKnown(to: target, count: count)
        var queried = Set<NodeID>()
        var answered: [NodeContact] = []
        await withTaskGroup(of: (NodeContact, [NodeContact]?).self) { group in
            var inFlight = 0
            func startNext() {
                let closestAnswered = answered.sorted { $0.id.distance(to: target) < $1.id.distance(to: target) }.prefix(count)
                let worst = closestAnswered.count == count ? closestAnswered.last!.id.distance(to: target) : nil
                guard let next = candidates.first(where: { candidate in
                    !queried.contains(candidate.id) && candidate.id != id
                        && (worst.map { candidate.id.distance(to: target) < $0 } ?? true)
                }) else { return }
                queried.insert(next.id)
                inFlight += 1
                group.addTask {
                    guard let address = try? DHTNode.address("\(next.host):\(next.port)") else { return (next, nil) }
                    return (next, try? await self.findNode(target, at: address))
                }
            }
            for _ in 0..<Self.lookupParallelism { startNext() }
            while let (contact, found) = await group.next() {
                inFlight -= 1
                if let found {
                    answered.append(contact)
                    for node in found where node.id != id && !candidates.contains(where: { $0.id == node.id }) {
                        candidates.append(node)
                    }
                    candidates.sort { $0.id.distance(to: target) < $1.id.distance(to: target) }
                }
                while inFlight < Self.lookupParallelism {
                    let before = inFlight
                    startNext()
                    if inFlight == before { break }
                }
            }
        }
        let result = answered.sorted { $0.id.distance(to: target) < $1.id.distance(to: target) }.prefix(count)
        return result.isEmpty ? Array(candidates.prefix(count)) : Array(result)
    }
}
