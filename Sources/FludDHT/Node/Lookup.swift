extension DHTNode {
    /// Lookup parallelism (Kademlia's α).
    static let lookupParallelism = 3
    /// Queries sent to one node in a lookup before it counts as failed: UDP
    /// loses packets, and a node whose answer was lost is often the closest.
    static let lookupAttempts = 3

    /// An iterative Kademlia lookup: asks the closest known nodes for closer
    /// ones, keeping α queries in flight and sending the next one as soon as any
    /// answer arrives (no synchronous rounds). Ends when the k closest nodes
    /// seen have all answered or failed (a node that times out is asked again,
    /// up to `lookupAttempts` times, unless it ignored a recent lookup
    /// altogether: then once). Returns the k closest that answered;
    /// when none answered, the closest known, so a lookup never comes back
    /// empty while the routing table holds contacts.
    public func lookup(_ target: NodeID, count: Int = RoutingTable.bucketSize) async -> [NodeContact] {
        var candidates = await closestKnown(to: target, count: count)
        var queried = Set<NodeID>()
        var attempts: [NodeID: Int] = [:]
        let unresponsive = (try? await onLoop { $0.recentlyUnresponsive() }) ?? []
        var silent: [NodeID] = []
        var answered: [NodeContact] = []
        await withTaskGroup(of: (NodeContact, Result<[NodeContact], Error>).self) { group in
            var inFlight = 0
            func startNext() {
                let closestAnswered = answered.sorted { $0.id.distance(to: target) < $1.id.distance(to: target) }.prefix(count)
                let worst = closestAnswered.count == count ? closestAnswered.last!.id.distance(to: target) : nil
                guard let next = candidates.first(where: { candidate in
                    !queried.contains(candidate.id) && candidate.id != id
                        && (worst.map { candidate.id.distance(to: target) < $0 } ?? true)
                }) else { return }
                queried.insert(next.id)
                attempts[next.id, default: 0] += 1
                inFlight += 1
                group.addTask {
                    do {
                        let address = try DHTNode.address("\(next.host):\(next.port)")
                        return (next, .success(try await self.findNode(target, at: address)))
                    } catch {
                        return (next, .failure(error))
                    }
                }
            }
            for _ in 0..<Self.lookupParallelism { startNext() }
            while let (contact, outcome) = await group.next() {
                inFlight -= 1
                switch outcome {
                case let .failure(error) where (error as? DHTError)?.isTimeout == true:
                    if !unresponsive.contains(contact.id) && attempts[contact.id, default: 0] < Self.lookupAttempts {
                        queried.remove(contact.id)
                    } else {
                        silent.append(contact.id)
                    }
                case .failure:
                    break
                case let .success(found):
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
        if !silent.isEmpty { _ = try? await onLoop { [silent] in $0.markUnresponsive(silent) } }
        let result = answered.sorted { $0.id.distance(to: target) < $1.id.distance(to: target) }.prefix(count)
        return result.isEmpty ? Array(candidates.prefix(count)) : Array(result)
    }
}
