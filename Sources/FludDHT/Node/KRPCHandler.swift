import NIOCore

/// The KRPC protocol engine of one DHT node, as a SwiftNIO channel handler.
///
/// All of its state (routing table, pending queries, tokens, announced peers)
/// lives on the channel's event loop and is touched only there, so it needs no
/// locks; ``DHTNode`` reaches it through `NIOLoopBound`.
final class KRPCHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    let ownID: NodeID
    /// BEP 43: our queries say `ro`, so others keep us out of their tables.
    let readOnly: Bool
    var routingTable: RoutingTable
    private var tokens: TokenIssuer
    /// Peers announced per info-hash (BEP 5 `announce_peer`), bounded.
    private var peers: [NodeID: [[UInt8]]] = [:]
    private var items: ItemStore
    private var pending: [[UInt8]: PendingQuery] = [:]
    /// Smoothed round-trip times (seconds) per address and over all answers,
    /// so a silent node is given up on after a few of its usual round trips
    /// rather than after a fixed long timeout.
    private var roundTrips: [SocketAddress: Double] = [:]
    private var overallRoundTrip: Double?
    /// When each address last let a query time out (all its retransmissions
    /// unanswered). Our lookups still ask such suspects, once and briefly, so
    /// a dead contact costs a lookup 25 ms instead of a full timeout, and a
    /// live one that lost packets is heard again. Cleared by any datagram
    /// from the address.
    private var unresponsive: [SocketAddress: Double] = [:]
    /// Seconds a contact that timed out stays a suspect.
    static let suspectSeconds: Double = 5 * 60
    /// Queries sent, for `flud bench dht`'s messages per lookup.
    private(set) var queriesSent = 0
    /// Queries (and garbage) we answer per second from one IP address: a
    /// flood from one host costs us a bounded amount of work and replies.
    private var answerBudget: TokenBuckets<UInt32>
    /// Datagrams dropped unanswered because their IP address was over its rate.
    private(set) var datagramsDropped = 0
    private var nextTransaction: UInt16 = 0
    private var context: ChannelHandlerContext?
    let eventLoop: EventLoop
    let clock: @Sendable () -> Double

    static let maximumPeersPerInfoHash = 100
    static let maximumInfoHashes = 10_000

    struct PendingQuery {
        let promise: EventLoopPromise<QueryAnswer>
        let address: SocketAddress
        let timeout: Scheduled<Void>
        let sentAt: Double
        /// Sent more than once: its answer says nothing sure about the round trip (Karn).
        var resent = false
    }

    /// Four smoothed round trips of this address (or of all answers so far),
    /// at least 100 ms (loaded loopback hosts stall that long) and at most
    /// `ceiling`. A suspect gets two round trips and at least 25 ms: it is
    /// probably dead, and a live one's late answer still clears it.
    private func adaptiveTimeout(for address: SocketAddress, ceiling: TimeAmount, suspect: Bool) -> TimeAmount {
        guard let roundTrip = roundTrips[address] ?? overallRoundTrip else { return suspect ? .milliseconds(100) : ceiling }
        let seconds = suspect ? max(0.025, 2 * roundTrip) : max(0.1, 4 * roundTrip)
        return min(ceiling, .nanoseconds(Int64(seconds * 1e9)))
    }

    /// Whether a query to `address` timed out in the last `suspectSeconds`
    /// with nothing heard from it since.
    func isSuspect(_ address: SocketAddress) -> Bool {
        guard let since = unresponsive[address] else { return false }
        return clock() - since < Self.suspectSeconds
    }

    private func noteRoundTrip(_ seconds: Double, from address: SocketAddress) {
        roundTrips[address] = roundTrips[address].map { 0.875 * $0 + 0.125 * seconds } ?? seconds
        overallRoundTrip = overallRoundTrip.map { 0.875 * $0 + 0.125 * seconds } ?? seconds
        if roundTrips.count > 10_000 { roundTrips.removeAll(keepingCapacity: true) }
    }

    private func noteUnresponsive(_ address: SocketAddress) {
        let now = clock()
        if unresponsive.count >= 10_000 {
            unresponsive = unresponsive.filter { now - $0.value < Self.suspectSeconds }
            if unresponsive.count >= 10_000 { unresponsive.removeAll(keepingCapacity: true) }
        }
        unresponsive[address] = now
    }

    init(ownID: NodeID, readOnly: Bool, queriesPerSecondPerIP: Double, itemLifetime: Double, eventLoop: EventLoop,
         clock: @escaping @Sendable () -> Double) {
        self.ownID = ownID
        items = ItemStore(lifetime: itemLifetime)
        self.readOnly = readOnly
        answerBudget = TokenBuckets(rate: queriesPerSecondPerIP, burst: 2 * queriesPerSecondPerIP)
        self.eventLoop = eventLoop
        self.clock = clock
        routingTable = RoutingTable(ownID: ownID, now: clock())
        tokens = TokenIssuer(now: clock())
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        for (_, query) in pending {
            query.timeout.cancel()
            query.promise.fail(DHTError.closed)
        }
        pending.removeAll()
    }

    // MARK: Outgoing queries

    /// Sends a query and completes with the response's values (or a KRPC
    /// error, or a timeout). Must run on the event loop.
    ///
    /// - Parameter retransmissions: for idempotent queries, how many more times
    ///   the same message (same transaction) goes out, evenly spread inside
    ///   the timeout, while no answer has come: a lost packet then costs a
    ///   fraction of the timeout, and a dead node still costs only one timeout.
    func query(_ method: String, arguments: BencodeDictionary, to address: SocketAddress,
               timeout: TimeAmount, retransmissions: Int = 0, suspect: Bool = false) -> EventLoopFuture<QueryAnswer> {
        guard let context else { return eventLoop.makeFailedFuture(DHTError.closed) }
        var arguments = arguments
        arguments["id"] = .bytes(ownID.bytes)
        let transaction = newTransactionID()
        let promise = context.eventLoop.makePromise(of: QueryAnswer.self)
        let wait = adaptiveTimeout(for: address, ceiling: timeout, suspect: suspect)
        let timeoutTask = context.eventLoop.assumeIsolated().scheduleTask(in: wait) { [weak self] in
            guard let self, let query = self.pending.removeValue(forKey: transaction) else { return }
            if let id = self.contactID(at: query.address) { self.routingTable.failed(id) }
            self.noteUnresponsive(query.address)
            query.promise.fail(DHTError.timeout(address: "\(address)"))
        }
        let sentAt = clock()
        pending[transaction] = PendingQuery(promise: promise, address: address, timeout: timeoutTask, sentAt: sentAt)
        queriesSent += 1
        let message = KRPCMessage(transactionID: transaction, body: .query(method: method, arguments: arguments),
                                  version: DHTNode.clientVersion, readOnly: readOnly)
        send(message, to: address, context: context)
        for resend in stride(from: 1, through: retransmissions, by: 1) {
            let delay = TimeAmount.nanoseconds(wait.nanoseconds * Int64(resend) / Int64(retransmissions + 1))
            context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [weak self] in
                // Still this query (not a later one that reused the transaction ID) and still unanswered.
                guard let self, self.pending[transaction]?.sentAt == sentAt, let context = self.context else { return }
                self.pending[transaction]?.resent = true
                self.send(message, to: address, context: context)
            }
        }
        return promise.futureResult
    }

    private func newTransactionID() -> [UInt8] {
        repeat {
            nextTransaction &+= 1
        } while pending[[UInt8(nextTransaction >> 8), UInt8(nextTransaction & 0xFF)]] != nil
        return [UInt8(nextTransaction >> 8), UInt8(nextTransaction & 0xFF)]
    }

    private func contactID(at address: SocketAddress) -> NodeID? {
        guard let (ip, port) = address.ipv4 else { return nil }
        return routingTable.contacts.first { $0.address == ip && $0.port == port }?.id
    }

    // MARK: Incoming datagrams

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        // Anything from a suspect, even an answer that came too late, shows it is alive.
        if !unresponsive.isEmpty { unresponsive[envelope.remoteAddress] = nil }
        let bytes = Array(envelope.data.readableBytesView)
        let message: KRPCMessage
        do {
            message = try KRPCMessage(decoding: bytes, decoder: DHTNode.packetDecoder)
        } catch {
            // Answer what can be answered (a readable transaction ID); drop the rest.
            if let transaction = error.transactionID, withinBudget(envelope.remoteAddress) {
                send(KRPCMessage(transactionID: transaction, body: .error(error.error)), to: envelope.remoteAddress, context: context)
            }
            return
        }
        switch message.body {
        case let .query(method, arguments):
            guard withinBudget(envelope.remoteAddress) else { return }
            answer(method, arguments: arguments, transaction: message.transactionID, readOnlySender: message.readOnly,
                   from: envelope.remoteAddress, context: context)
        case let .response(values):
            complete(message.transactionID, from: envelope.remoteAddress, with: .success(values))
        case let .error(error):
            complete(message.transactionID, from: envelope.remoteAddress, with: .failure(error))
        }
    }

    /// Whether the sender's IP address may have one more answer now.
    private func withinBudget(_ address: SocketAddress) -> Bool {
        guard case let .v4(v4) = address else { return false }
        if answerBudget.take(v4.address.sin_addr.s_addr, now: clock()) { return true }
        datagramsDropped += 1
        return false
    }

    private func complete(_ transaction: [UInt8], from address: SocketAddress, with result: Result<BencodeDictionary, KRPCError>) {
        // Only the address we asked may answer: a forged reply from elsewhere is dropped.
        guard let query = pending[transaction], query.address == address else { return }
        pending[transaction] = nil
        query.timeout.cancel()
        if !query.resent { noteRoundTrip(clock() - query.sentAt, from: address) }
        switch result {
        case let .success(values):
            guard let id = values["id"]?.bytesValue.flatMap(NodeID.init(bytes:)) else {
                query.promise.fail(DHTError.malformedResponse("the response has no valid 'id'"))
                return
            }
            if let (ip, port) = address.ipv4 {
                routingTable.heard(from: NodeContact(id: id, address: ip, port: port), now: clock())
            }
            query.promise.succeed(QueryAnswer(responder: id, values: values))
        case let .failure(error):
            query.promise.fail(DHTError.remote(error))
        }
    }

    private func answer(_ method: String, arguments: BencodeDictionary, transaction: [UInt8], readOnlySender: Bool,
                        from address: SocketAddress, context: ChannelHandlerContext) {
        guard let senderID = arguments["id"]?.bytesValue.flatMap(NodeID.init(bytes:)) else {
            send(KRPCMessage(transactionID: transaction, body: .error(.protocolError("'id' must be 20 bytes"))), to: address, context: context)
            return
        }
        let now = clock()
        guard let (ip, port) = address.ipv4 else { return }
        if !readOnlySender { routingTable.heard(from: NodeContact(id: senderID, address: ip, port: port), now: now) }
        var values: BencodeDictionary = ["id": .bytes(ownID.bytes)]
        switch method {
        case "ping":
            break
        case "find_node":
            guard let target = arguments["target"]?.bytesValue.flatMap(NodeID.init(bytes:)) else {
                return reply(.protocolError("'target' must be 20 bytes"))
            }
            values["nodes"] = .bytes(routingTable.closest(to: target).flatMap(\.compact))
        case "get_peers":
            guard let infoHash = arguments["info_hash"]?.bytesValue.flatMap(NodeID.init(bytes:)) else {
                return reply(.protocolError("'info_hash' must be 20 bytes"))
            }
            values["token"] = .bytes(tokens.token(for: ip, now: now))
            if let known = peers[infoHash], !known.isEmpty {
                values["values"] = .list(known.map(BencodeValue.bytes))
            } else {
                values["nodes"] = .bytes(routingTable.closest(to: infoHash).flatMap(\.compact))
            }
        case "announce_peer":
            guard let infoHash = arguments["info_hash"]?.bytesValue.flatMap(NodeID.init(bytes:)),
                  let token = arguments["token"]?.bytesValue else {
                return reply(.protocolError("announce_peer needs 'info_hash' and 'token'"))
            }
            guard tokens.isValid(token, for: ip, now: now) else { return reply(.protocolError("bad token")) }
            let impliedPort = arguments["implied_port"]?.integerValue == 1
            guard let announced = impliedPort ? Int64(port) : arguments["port"]?.integerValue, (1...65535).contains(announced) else {
                return reply(.protocolError("'port' must be 1 to 65535"))
            }
            store(peer: ip + [UInt8(announced >> 8), UInt8(announced & 0xFF)], for: infoHash)
        case "get":
            guard let target = arguments["target"]?.bytesValue.flatMap(NodeID.init(bytes:)) else {
                return reply(.protocolError("'target' must be 20 bytes"))
            }
            values["token"] = .bytes(tokens.token(for: ip, now: now))
            values["nodes"] = .bytes(routingTable.closest(to: target).flatMap(\.compact))
            if let item = items.item(at: target, now: now) {
                let newerThanAsked = arguments["seq"]?.integerValue.map { (item.mutable?.sequence ?? 0) > $0 } ?? true
                if newerThanAsked { values["v"] = item.value }
                if let mutable = item.mutable {
                    values["k"] = .bytes(mutable.publicKey)
                    values["seq"] = .integer(mutable.sequence)
                    values["sig"] = .bytes(mutable.signature)
                }
            }
        case "put":
            guard let token = arguments["token"]?.bytesValue, tokens.isValid(token, for: ip, now: now) else {
                return reply(.protocolError("bad token"))
            }
            switch ItemStore.item(fromPut: arguments) {
            case let .failure(error):
                return reply(error)
            case let .success(item):
                if let error = items.store(item, cas: arguments["cas"]?.integerValue, now: now) { return reply(error) }
            }
        default:
            return reply(.methodUnknown(method))
        }
        send(KRPCMessage(transactionID: transaction, body: .response(values), version: DHTNode.clientVersion), to: address, context: context)

        func reply(_ error: KRPCError) {
            send(KRPCMessage(transactionID: transaction, body: .error(error)), to: address, context: context)
        }
    }

    /// BEP 44 items stored or dropped since the last call (see
    /// ``ItemStore/drainChanges(now:)``), with times in Unix seconds.
    func drainItemChanges() -> [(target: NodeID, held: HeldItem?)] {
        let now = clock()
        let toWall = wallNow() - now
        return items.drainChanges(now: now).map { ($0.target, $0.held?.shifted(by: toWall)) }
    }

    /// Takes back saved items (times in Unix seconds); returns the targets of
    /// those valid and unexpired.
    func restoreItems(_ saved: [HeldItem]) -> Set<NodeID> {
        let now = clock()
        let fromWall = now - wallNow()
        return Set(saved.filter { items.restore($0.shifted(by: fromWall), now: now) }.map(\.item.target))
    }

    func itemsDueForRepublishing() -> [StoredItem] {
        items.dueForRepublishing(now: clock())
    }

    private func store(peer: [UInt8], for infoHash: NodeID) {
        guard peers[infoHash] != nil || peers.count < Self.maximumInfoHashes else { return }
        var known = peers[infoHash, default: []]
        known.removeAll { $0 == peer }
        known.append(peer)
        if known.count > Self.maximumPeersPerInfoHash { known.removeFirst() }
        peers[infoHash] = known
    }

    private func send(_ message: KRPCMessage, to address: SocketAddress, context: ChannelHandlerContext) {
        let buffer = context.channel.allocator.buffer(bytes: message.encoded)
        context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: address, data: buffer)), promise: nil)
    }
}

/// A response to one of our queries.
struct QueryAnswer: Sendable {
    let responder: NodeID
    let values: BencodeDictionary
}

extension SocketAddress {
    /// The IPv4 address bytes and port, or nil for other families.
    var ipv4: ([UInt8], UInt16)? {
        guard case let .v4(address) = self, let port else { return nil }
        let raw = address.address.sin_addr.s_addr  // network order in memory
        return (withUnsafeBytes(of: raw, Array.init), UInt16(port))
    }
}
