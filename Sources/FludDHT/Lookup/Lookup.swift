import NIOCore
#if canImport(Glibc)
import Glibc
#endif

extension DHTNode {
    /// Lookup parallelism (Kademlia's α).
    static let lookupParallelism = 3

    /// An iterative Kademlia lookup with `find_node`: α queries in flight, the
    /// next one sent as soon as any answer arrives (no synchronous rounds),
    /// each query sent again within its timeout while unanswered (see
    /// `lookupRetransmissions`). Returns the `count` closest nodes that
    /// answered; when none answered, the closest known, so a lookup never
    /// comes back empty while the routing table holds contacts.
    public func lookup(_ target: NodeID, count: Int = RoutingTable.bucketSize) async -> [NodeContact] {
        await walk(to: target, count: count, asking: "find_node", ["target": .bytes(target.bytes)]).closest
    }

    /// Runs a lookup on the event loop, sending `method` with `arguments` to
    /// each contact; `isDone` sees every answer and may end the walk early.
    func walk(to target: NodeID, count: Int = RoutingTable.bucketSize, asking method: String, _ arguments: BencodeDictionary,
              until isDone: @escaping @Sendable (QueryAnswer) -> Bool = { _ in false }) async -> LookupOutcome {
        let handler = self.handler
        let timeout = queryTimeout
        let outcome = try? await channel.eventLoop.flatSubmit {
            handler.value.walk(to: target, count: count, asking: method, arguments, timeout: timeout, until: isDone)
        }.get()
        return outcome ?? LookupOutcome(closest: [], answers: [:])
    }
}

/// What a lookup found: the closest contacts that answered (or the closest
/// known, if none did) and every answer it got, by responder.
struct LookupOutcome: Sendable {
    var closest: [NodeContact]
    var answers: [NodeID: QueryAnswer]
}

extension KRPCHandler {
    /// One lookup in progress; lives on the event loop.
    private final class Walk {
        var state: LookupState
        var answers: [NodeID: QueryAnswer] = [:]
        let promise: EventLoopPromise<LookupOutcome>
        var isOver = false

        init(state: LookupState, promise: EventLoopPromise<LookupOutcome>) {
            self.state = state
            self.promise = promise
        }

        func finish() {
            guard !isOver else { return }
            isOver = true
            promise.succeed(LookupOutcome(closest: state.result, answers: answers))
        }
    }

    /// Drives a ``LookupState`` with real queries. Must run on the event loop.
    func walk(to target: NodeID, count: Int, asking method: String, _ arguments: BencodeDictionary, timeout: TimeAmount,
              until isDone: @escaping (QueryAnswer) -> Bool) -> EventLoopFuture<LookupOutcome> {
        let state = LookupState(target: target, count: count, ownID: ownID,
                                startingFrom: routingTable.closest(to: target, count: LookupState.startingCandidates(count)))
        let walk = Walk(state: state, promise: eventLoop.makePromise())
        advance(walk, method, arguments, timeout, isDone)
        return walk.promise.futureResult
    }

    private func advance(_ walk: Walk, _ method: String, _ arguments: BencodeDictionary, _ timeout: TimeAmount,
                         _ isDone: @escaping (QueryAnswer) -> Bool) {
        while !walk.isOver, walk.state.inFlight < DHTNode.lookupParallelism, let contact = walk.state.next() {
            let address = contact.socketAddress
            let suspect = isSuspect(address)
            query(method, arguments: arguments, to: address, timeout: timeout,
                  retransmissions: suspect ? 1 : DHTNode.lookupRetransmissions, suspect: suspect).assumeIsolated().whenComplete { result in
                guard !walk.isOver else { return }
                if case let .success(answer) = result,
                   let found = NodeContact.decodeCompact(answer.values["nodes"]?.bytesValue ?? []) {
                    walk.state.received(found, from: contact)
                    walk.answers[contact.id] = answer
                    if isDone(answer) { return walk.finish() }
                } else {
                    walk.state.failed(contact)
                }
                self.advance(walk, method, arguments, timeout, isDone)
            }
        }
        if walk.state.inFlight == 0 { walk.finish() }
    }
}

extension NodeContact {
    /// The contact's UDP address, built without parsing text.
    public var socketAddress: SocketAddress {
        var raw = sockaddr_in()
        raw.sin_family = sa_family_t(AF_INET)
        raw.sin_port = port.bigEndian
        raw.sin_addr.s_addr = ipv4.bigEndian
        return SocketAddress(raw, host: "")
    }
}
