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
    /// Queries awaiting an answer, by transaction ID (ours are two bytes).
    private var pending: [UInt16: PendingQuery] = [:]
    /// Smoothed round-trip times (seconds) per address and over all answers,
    /// so a silent node is given up on after a few of its usual round trips
    /// rather than after a fixed long timeout.
    private var roundTrips: [SocketAddress: Double] = [:]
    private var overallRoundTrip: Double?
    /// When each address last let a query time out (all its retransmissions
    /// unanswered). Our lookups still ask such suspects, briefly and with one
    /// resend, so a dead contact costs a lookup 25 ms instead of a full
    /// timeout, and a live one that lost packets is most likely heard again
    /// (at 10 % loss each way, a single try fails 19 % of the time, two 3.6 %).
    /// Cleared by any datagram from the address.
    private var unresponsive: [SocketAddress: Double] = [:]
    /// Seconds a query to a contact that is not a suspect waits at least,
    /// however fast its round trips: a busy host's scheduling stalls must
    /// not pass for a dead contact.
    let minimumWait: Double
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
        let message: ByteBuffer
        /// The next resend, or the timeout once no resend is left: one
        /// scheduled task per query at any time.
        var timer: Scheduled<Void>?
        let sentAt: Double
        let wait: TimeAmount
        let retransmissions: Int
        /// Sent more than once: its answer says nothing sure about the round trip (Karn).
        var resent = 0
    }

    /// Four smoothed round trips of this address (or of all answers so far),
    /// at least `minimumWait` and at most `ceiling`. A suspect gets two round
    /// trips and at least 25 ms: it is probably dead, and a live one's late
    /// answer still clears it.
    private func adaptiveTimeout(for address: SocketAddress, ceiling: TimeAmount, suspect: Bool) -> TimeAmount {
        guard let roundTrip = roundTrips[address] ?? overallRoundTrip else { return suspect ? .milliseconds(100) : ceiling }
        let seconds = suspect ? max(0.025, 2 * roundTrip) : max(minimumWait, 4 * roundTrip)
        return min(ceiling, .nanoseconds(Int64(seconds * 1e9)))
    }

    /// How long a hedged lookup waits on a query before it asks another
    /// contact too: three smoothed round trips of the address (or of all
    /// answers), at least 5 ms, at most 100 ms. Shorter hedges on a busy
    /// loopback fired on mere scheduling jitter (2.0 queries per get instead
    /// of 1.5 at 1 ms) and their timers woke the event loop for nothing.
    func hedgeDelay(for address: SocketAddress) -> TimeAmount {
        let seconds = min(0.1, max(0.005, 3 * (roundTrips[address] ?? overallRoundTrip ?? 0.05)))
        return .nanoseconds(Int64(seconds * 1e9))
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

    init(ownID: NodeID, readOnly: Bool, queriesPerSecondPerIP: Double, itemLifetime: Double, minimumWait: Double = 0.1,
         eventLoop: EventLoop, clock: @escaping @Sendable () -> Double) {
        self.ownID = ownID
        self.minimumWait = minimumWait
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
            query.timer?.cancel()
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
        let message = KRPCMessage(transactionID: [UInt8(transaction >> 8), UInt8(transaction & 0xFF)],
                                  body: .query(method: method, arguments: arguments),
                                  version: DHTNode.clientVersion, readOnly: readOnly)
        let buffer = context.channel.allocator.buffer(bytes: message.encoded)
        pending[transaction] = PendingQuery(promise: promise, address: address, message: buffer, sentAt: clock(),
                                            wait: adaptiveTimeout(for: address, ceiling: timeout, suspect: suspect),
                                            retransmissions: retransmissions)
        queriesSent += 1
        write(buffer, to: address, context: context)
        scheduleTimer(for: transaction)
        return promise.futureResult
    }

    /// Arms the query's one timer: the next resend, evenly spread inside the
    /// timeout, or the timeout itself.
    private func scheduleTimer(for transaction: UInt16) {
        guard let query = pending[transaction] else { return }
        let nextSend = query.resent + 1
        let delay = TimeAmount.nanoseconds(query.wait.nanoseconds * Int64(nextSend) / Int64(query.retransmissions + 1)
                                           - query.wait.nanoseconds * Int64(query.resent) / Int64(query.retransmissions + 1))
        let sentAt = query.sentAt
        pending[transaction]?.timer = eventLoop.assumeIsolated().scheduleTask(in: delay) { [weak self] in
            // Still this query (not a later one that reused the transaction ID) and still unanswered.
            guard let self, let query = self.pending[transaction], query.sentAt == sentAt else { return }
            if query.resent < query.retransmissions, let context = self.context {
                self.pending[transaction]?.resent += 1
                self.write(query.message, to: query.address, context: context)
                self.scheduleTimer(for: transaction)
                return
            }
            self.pending[transaction] = nil
            if let id = self.contactID(at: query.address) { self.routingTable.failed(id) }
            self.noteUnresponsive(query.address)
            query.promise.fail(DHTError.timeout(address: "\(query.address)"))
        }
    }

    private func newTransactionID() -> UInt16 {
        repeat {
            nextTransaction &+= 1
        } while pending[nextTransaction] != nil
        return nextTransaction
    }

    private func contactID(at address: SocketAddress) -> NodeID? {
        guard let (ip, port) = address.ipv4Endpoint else { return nil }
        return routingTable.contact(ipv4: ip, port: port)?.id
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

    private func complete(_ transactionID: [UInt8], from address: SocketAddress, with result: Result<BencodeDictionary, KRPCError>) {
        // Only the address we asked may answer: a forged reply from elsewhere is dropped.
        guard transactionID.count == 2 else { return }
        let transaction = UInt16(transactionID[0]) << 8 | UInt16(transactionID[1])
        guard let query = pending[transaction], query.address == address else { return }
        pending[transaction] = nil
        query.timer?.cancel()
        if query.resent == 0 { noteRoundTrip(clock() - query.sentAt, from: address) }
        switch result {
        case let .success(values):
            guard let id = values["id"]?.bytesValue.flatMap(NodeID.init(bytes:)) else {
                query.promise.fail(DHTError.malformedResponse("the response has no valid 'id'"))
                return
            }
            if let (ip, port) = address.ipv4Endpoint {
                routingTable.heard(from: NodeContact(id: id, ipv4: ip, port: port), now: clock())
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
        guard let (ipv4, port) = address.ipv4Endpoint else { return }
        if !readOnlySender { routingTable.heard(from: NodeContact(id: senderID, ipv4: ipv4, port: port), now: now) }
        // Only tokens and announced peers need the address as bytes.
        var ip: [UInt8] { withUnsafeBytes(of: ipv4.bigEndian, Array.init) }
        var values: BencodeDictionary = ["id": .bytes(ownID.bytes)]
        switch method {
        case "ping":
            break
        case "find_node":
            guard let target = arguments["target"]?.bytesValue.flatMap(NodeID.init(bytes:)) else {
                return reply(.protocolError("'target' must be 20 bytes"))
            }
            values["nodes"] = .bytes(NodeContact.compact(routingTable.closest(to: target)))
        case "get_peers":
            guard let infoHash = arguments["info_hash"]?.bytesValue.flatMap(NodeID.init(bytes:)) else {
                return reply(.protocolError("'info_hash' must be 20 bytes"))
            }
            values["token"] = .bytes(tokens.token(for: ip, now: now))
            if let known = peers[infoHash], !known.isEmpty {
                values["values"] = .list(known.map(BencodeValue.bytes))
            } else {
                values["nodes"] = .bytes(NodeContact.compact(routingTable.closest(to: infoHash)))
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
            values["nodes"] = .bytes(NodeContact.compact(routingTable.closest(to: target)))
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
        write(context.channel.allocator.buffer(bytes: message.encoded), to: address, context: context)
    }

    private func write(_ datagram: ByteBuffer, to address: SocketAddress, context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: address, data: datagram)), promise: nil)
    }
}

/// A response to one of our queries.
struct QueryAnswer: Sendable {
    let responder: NodeID
    let values: BencodeDictionary
}

extension SocketAddress {
    /// The IPv4 address (127.0.0.1 is 0x7F00_0001) and port, or nil for other families.
    var ipv4Endpoint: (UInt32, UInt16)? {
        guard case let .v4(address) = self else { return nil }
        return (UInt32(bigEndian: address.address.sin_addr.s_addr), UInt16(bigEndian: address.address.sin_port))
    }
}
