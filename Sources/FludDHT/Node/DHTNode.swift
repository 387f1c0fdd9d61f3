import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// A DHT node on a UDP port: answers BEP 5 queries from other nodes and runs
/// queries and iterative lookups of its own.
///
/// The protocol engine is a SwiftNIO channel handler on one event loop; this
/// type is the async API in front of it.
public final class DHTNode: Sendable {
    /// Sent as `v` in our messages: "FL" and a version.
    static let clientVersion = Array("FL01".utf8)
    /// Decoder limits for datagrams: a KRPC message fits in one UDP packet.
    static let packetDecoder: BencodeDecoder = {
        var decoder = BencodeDecoder()
        decoder.maximumLength = 1500
        decoder.maximumDepth = 8
        decoder.maximumValues = 512
        return decoder
    }()

    public let id: NodeID
    /// The UDP port the node listens on.
    public let port: Int
    let channel: Channel
    let handler: NIOLoopBound<KRPCHandler>
    /// How long a single query waits for its answer.
    public let queryTimeout: TimeAmount
    /// A task executor on this node's event loop. A caller that issues many
    /// lookups through this node can run its task there
    /// (`withTaskExecutorPreference(node.taskExecutor) { … }`): each lookup
    /// then starts and resumes on the loop's thread instead of crossing
    /// between a Swift pool thread and the loop twice.
    public let taskExecutor: any TaskExecutor

    /// Generous for a node on the open internet (libtorrent allows 5), and
    /// still above what a 200-node network on one loopback address sends one node.
    public static let defaultQueriesPerSecondPerIP: Double = 1000

    /// BEP 44's suggested item lifetime, two hours: the item's owner republishes.
    public static let defaultItemLifetime: Double = 2 * 60 * 60

    /// Binds a node to `host:port` (port 0 picks a free one).
    ///
    /// - Parameters:
    ///   - readOnly: a client that only asks (BEP 43): other nodes answer it but
    ///     keep it out of their routing tables, so short-lived tools leave no
    ///     dead contacts behind.
    ///   - queriesPerSecondPerIP: queries answered per second from one IP
    ///     address (twice as many in a burst); more are dropped unanswered.
    ///   - itemLifetime: seconds a BEP 44 item is kept after its last put.
    ///   - queryTimeout: the longest a query waits for its answer.
    ///   - minimumQueryWait: the shortest: a query to a contact that usually
    ///     answers fast still waits this long (resending within it) before
    ///     the contact counts as failed. 100 ms covers the stalls of a busy
    ///     host; on a heavily loaded one, longer keeps live contacts in lookups.
    public static func start(id: NodeID = .random(), host: String = "127.0.0.1", port: Int = 0,
                             readOnly: Bool = false, queryTimeout: TimeAmount = .seconds(2),
                             minimumQueryWait: TimeAmount = .milliseconds(100),
                             queriesPerSecondPerIP: Double = defaultQueriesPerSecondPerIP,
                             itemLifetime: Double = defaultItemLifetime,
                             group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> DHTNode {
        // No SO_REUSEADDR: on UDP it lets the kernel hand a port already in
        // use to a second socket bound to port 0, and the two then steal each
        // other's answers. UDP has no TIME_WAIT, so restarts need no reuse.
        let channel = try await DatagramBootstrap(group: group.next())
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = KRPCHandler(ownID: id, readOnly: readOnly, queriesPerSecondPerIP: queriesPerSecondPerIP,
                                              itemLifetime: itemLifetime, minimumWait: Double(minimumQueryWait.nanoseconds) / 1e9,
                                              eventLoop: channel.eventLoop, clock: { monotonicNow() })
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(host: host, port: port).get()
        let bound = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: KRPCHandler.self), eventLoop: channel.eventLoop)
        }.get()
        return DHTNode(id: id, port: channel.localAddress?.port ?? port, channel: channel, handler: bound, queryTimeout: queryTimeout)
    }

    private init(id: NodeID, port: Int, channel: Channel, handler: NIOLoopBound<KRPCHandler>, queryTimeout: TimeAmount) {
        self.id = id
        self.port = port
        self.channel = channel
        self.handler = handler
        self.queryTimeout = queryTimeout
        taskExecutor = EventLoopTaskExecutor(loop: channel.eventLoop)
    }

    /// Closes the socket; pending queries fail with ``DHTError/closed``.
    public func close() async {
        try? await channel.close()
    }

    /// Pings `address` and returns the ID it answered with.
    public func ping(_ address: SocketAddress) async throws -> NodeID {
        try await query("ping", [:], to: address, retransmissions: Self.lookupRetransmissions).responder
    }

    /// Asks `address` for the nodes it knows closest to `target`.
    public func findNode(_ target: NodeID, at address: SocketAddress) async throws -> [NodeContact] {
        let answer = try await query("find_node", ["target": .bytes(target.bytes)], to: address,
                                     retransmissions: Self.lookupRetransmissions)
        guard let nodes = answer.values["nodes"]?.bytesValue, let contacts = NodeContact.decodeCompact(nodes) else {
            throw DHTError.malformedResponse("'nodes' is missing or not a multiple of 26 bytes")
        }
        return contacts
    }

    /// Joins as Kademlia prescribes: pings each bootstrap address (filling the
    /// routing table with those that answer), looks up our own ID to meet our
    /// neighbours, then looks up a random ID in every bucket's range, so the
    /// table also knows nodes in the far half of the ID space and not only on
    /// the path to ourselves. Returns the number of contacts in the routing table.
    @discardableResult
    public func bootstrap(from addresses: [SocketAddress]) async -> Int {
        await withTaskGroup(of: Void.self) { group in
            for address in addresses { group.addTask { _ = try? await self.ping(address) } }
        }
        _ = await lookup(id)
        let targets: [NodeID] = (try? await onLoop { handler -> [NodeID] in
            var generator = SystemRandomNumberGenerator()
            return handler.routingTable.refreshTargets(now: monotonicNow(), idleSeconds: 0, using: &generator)
        }) ?? []
        await withTaskGroup(of: Void.self) { group in
            for target in targets { group.addTask { _ = await self.lookup(target) } }
        }
        return await routingTableSize()
    }

    /// The contacts in our routing table.
    public func routingTableSize() async -> Int {
        (try? await onLoop { $0.routingTable.count }) ?? 0
    }

    /// The `count` closest contacts our routing table holds for `target`.
    public func closestKnown(to target: NodeID, count: Int = RoutingTable.bucketSize) async -> [NodeContact] {
        (try? await onLoop { $0.routingTable.closest(to: target, count: count) }) ?? []
    }

    /// Queries lookups send (ping, find_node, get) are idempotent: each goes
    /// out up to four times within its timeout, so UDP's lost packets cost
    /// little time and rarely a contact: at 10 % loss each way an exchange
    /// fails 19 % of the time, three tries 0.7 %, four 0.13 %.
    static let lookupRetransmissions = 3

    func query(_ method: String, _ arguments: BencodeDictionary, to address: SocketAddress,
               retransmissions: Int = 0) async throws -> QueryAnswer {
        let handler = self.handler
        let timeout = queryTimeout
        return try await channel.eventLoop.flatSubmit {
            handler.value.query(method, arguments: arguments, to: address, timeout: timeout, retransmissions: retransmissions)
        }.get()
    }

    func onLoop<Result: Sendable>(_ body: @escaping @Sendable (KRPCHandler) -> Result) async throws -> Result {
        let handler = self.handler
        return try await channel.eventLoop.submit { body(handler.value) }.get()
    }
}

extension DHTNode {
    /// Parses "HOST:PORT" (IPv4 dotted quad or name) into a socket address.
    public static func address(_ text: String) throws -> SocketAddress {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65535).contains(port) else {
            throw DHTError.badAddress(text)
        }
        do {
            return try SocketAddress.makeAddressResolvingHost(String(text[..<colon]), port: port)
        } catch {
            throw DHTError.badAddress(text)
        }
    }
}

/// Unix seconds (wall clock), for times kept across restarts.
func wallNow() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Seconds on a monotonic clock.
func monotonicNow() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

extension DHTNode {
    /// Routine upkeep (BEP 5): pings contacts that have gone quiet, so dead ones
    /// turn bad and make room, and looks up a random ID in every bucket that has
    /// not changed for 15 minutes. Call it about once a minute.
    public func maintain() async {
        let plan: ([NodeContact], [NodeID]) = (try? await onLoop { handler in
            var generator = SystemRandomNumberGenerator()
            let now = monotonicNow()
            return (handler.routingTable.questionable(now: now), handler.routingTable.refreshTargets(now: now, using: &generator))
        }) ?? ([], [])
        let (quiet, targets) = plan
        await withTaskGroup(of: Void.self) { group in
            for contact in quiet {
                group.addTask { _ = try? await self.ping(contact.socketAddress) }
            }
        }
        for target in targets { _ = await lookup(target) }
    }

    /// Every contact in the routing table, for saving across restarts.
    public func knownContacts() async -> [NodeContact] {
        (try? await onLoop { $0.routingTable.contacts }) ?? []
    }
}

extension DHTNode {
    /// Queries this node has sent since it started.
    public func queriesSent() async -> Int {
        (try? await onLoop { $0.queriesSent }) ?? 0
    }

    /// Datagrams this node dropped unanswered because their IP address sent
    /// more than its rate allows.
    public func datagramsDropped() async -> Int {
        (try? await onLoop { $0.datagramsDropped }) ?? 0
    }
}

/// Runs a task's jobs on a SwiftNIO event loop.
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
