import Crypto
import FludDHT
import FludStore
import FludWire
import Foundation
import Synchronization
import Logging
import NIOCore

/// A flud storage node: the DHT on UDP `port`, the fragment service on TCP
/// `port`, the block store, the trust ledger and the node's identity, all kept
/// in one data directory.
///
/// The identity is an Ed25519 key pair in `DIR/identity.key`; the DHT node
/// ID is the first 20 bytes of SHA-256 of its public key, so a node's ID and
/// its fragment-service identity can be checked against each other.
public final class StorageNode: Sendable {
    public struct Configuration: Sendable {
        public var data: String
        public var host = "127.0.0.1"
        /// UDP and TCP port; 0 picks one free for both.
        public var port = 0
        public var bootstrap: [SocketAddress] = []
        public var trust = TrustLedger.Policy()
        /// Lease of a STORE that asks for none: 90 days.
        public var defaultLease: UInt64 = 90 * 86_400
        /// How long the node keeps a DHT item after its last put: a user's
        /// snapshot root must outlive the user's machine as long as the data
        /// it names does, so 90 days, not BEP 44's two hours. The node passes
        /// its items on to the nodes closest to them every `republishInterval`.
        public var itemLifetime: Double = 90 * 86_400
        public var republishInterval: Duration = .seconds(3600)
        public var store = BlockStore.Options()
        var limits = FragmentServer.Limits()
        /// The identity to prove instead of `DIR/identity.key`: a user's own
        /// node proves the user's key, so that peers which the user's
        /// backups use find the node under the key they know the user by.
        public var identity: PeerIdentity?
        /// The user's ``KeptBytesFile``: each peer's allowance here grows by
        /// what the user keeps on that peer's node. Read at start and at
        /// every ``StorageNode/maintain()``.
        public var keptBytesFile: String?

        public init(data: String) {
            self.data = data
        }

        /// Connections that send nothing for this long are closed.
        public var idleTimeout: TimeAmount {
            get { limits.idleTimeout }
            set { limits.idleTimeout = newValue }
        }

        public var handshakeTimeout: TimeAmount {
            get { limits.handshakeTimeout }
            set { limits.handshakeTimeout = newValue }
        }

        /// Connections past this many are closed as they come.
        public var maximumConnections: Int {
            get { limits.maximumConnections }
            set { limits.maximumConnections = newValue }
        }
    }

    public let identity: PeerIdentity
    public let dht: DHTNode
    public let store: BlockStore
    public let ledger: TrustLedger
    public let port: Int
    private let server: FragmentServer
    private let keptBytesFile: String?
    private let metrics: NodeMetrics
    private let startedAt = Date()
    private let logger: Logger
    /// Passing DHT items on to the nodes closest to them.
    private let republishing: Periodic
    /// Dropping expired claims: a scan of every claim, and leases run for
    /// days, so hourly is often enough.
    private let leaseCollection = Periodic(every: .seconds(3600))

    static let routingKey = Array("routing-table".utf8)

    /// The DHT node ID that belongs to `key`.
    public static func nodeID(for key: PeerKey) -> NodeID {
        NodeID(bytes: Array(SHA256.hash(data: key.bytes).prefix(NodeID.byteCount)))!
    }

    public static func start(_ configuration: Configuration, logger: Logger = Logger(label: "flud.node")) async throws -> StorageNode {
        let identity = try nodeIdentity(configuration)
        var options = configuration.store
        options.tables = Array(Set(options.tables + ["dht", "dht-items", "trust"]))
        let store = try BlockStore(directory: configuration.data, options: options)
        do {
            let ledger = try TrustLedger(table: store.table("trust"), policy: configuration.trust)
            let id = nodeID(for: identity.publicKey)
            var logger = logger
            logger[metadataKey: "node"] = "\(id.hex.prefix(8))"
            let metrics = NodeMetrics(node: String(id.hex.prefix(8)))
            let holder = StatusHolder()
            let service = FragmentService(store: store, ledger: ledger, metrics: metrics,
                                          defaultLease: configuration.defaultLease,
                                          statusDocument: { await holder.node?.statusDocument() ?? [] })
            let (dht, server) = try await bindBoth(configuration, id: id, identity: identity, service: service, logger: logger)
            let node = StorageNode(identity: identity, dht: dht, store: store, ledger: ledger, port: dht.port,
                                   server: server, keptBytesFile: configuration.keptBytesFile,
                                   metrics: metrics, logger: logger, republishInterval: configuration.republishInterval)
            await holder.set(node)
            node.adoptKeptBytes()
            await node.restoreItems()
            await node.join(configuration.bootstrap)
            await node.updateLevels()
            logger.info("node started", metadata: ["port": "\(node.port)", "key": "\(identity.publicKey.hex)"])
            return node
        } catch {
            store.close()
            throw error
        }
    }

    /// The configured identity, or the one in `DIR/identity.key`. A data
    /// directory keeps the key it was first run with, so that its node ID,
    /// and what peers know it by, never change under them: a node of its own
    /// (`identity.key`) or a user's node (`user-node.pub`, the public key
    /// only; the user's secret stays in the user's home).
    private static func nodeIdentity(_ configuration: Configuration) throws -> PeerIdentity {
        let (secretPath, userPath) = (configuration.data + "/identity.key", configuration.data + "/user-node.pub")
        let userKey = FileManager.default.contents(atPath: userPath).map { String(decoding: $0, as: UTF8.self) }
        guard let identity = configuration.identity else {
            if let userKey, !FileManager.default.fileExists(atPath: secretPath) {
                throw IdentityError(path: userPath, reason: "this data directory is the node of the user with key "
                                    + "\(userKey.prefix(16))…; start it with that user's --home")
            }
            return try PeerIdentity.loadOrCreate(at: secretPath)
        }
        let wanted = identity.publicKey.hex
        if FileManager.default.fileExists(atPath: secretPath) || userKey != nil {
            let current = try userKey ?? PeerIdentity.loadOrCreate(at: secretPath).publicKey.hex
            guard current == wanted else {
                throw IdentityError(path: configuration.data, reason: "this data directory is node \(current.prefix(16))…, "
                                    + "which cannot become \(wanted.prefix(16))…; use a new data directory")
            }
            return identity
        }
        do {
            try FileManager.default.createDirectory(atPath: configuration.data, withIntermediateDirectories: true)
            try Data(wanted.utf8).write(to: URL(fileURLWithPath: userPath), options: .atomic)
        } catch {
            throw IdentityError(path: userPath, reason: "it cannot be written (\(error.localizedDescription))")
        }
        return identity
    }

    /// Binds the DHT to UDP and the fragment service to TCP on one port number.
    private static func bindBoth(_ configuration: Configuration, id: NodeID, identity: PeerIdentity,
                                 service: FragmentService, logger: Logger) async throws -> (DHTNode, FragmentServer) {
        var attempt = 0
        while true {
            attempt += 1
            let dht = try await DHTNode.start(id: id, host: configuration.host, port: configuration.port,
                                              itemLifetime: configuration.itemLifetime)
            do {
                let server = try await FragmentServer.start(host: configuration.host, port: dht.port, identity: identity,
                                                            service: service, limits: configuration.limits, logger: logger)
                return (dht, server)
            } catch {
                await dht.close()
                // With a chosen port the clash is the caller's to fix; with
                // port 0, the TCP twin of the UDP port was taken: try another.
                guard configuration.port == 0, attempt < 20 else { throw error }
            }
        }
    }

    private init(identity: PeerIdentity, dht: DHTNode, store: BlockStore, ledger: TrustLedger, port: Int,
                 server: FragmentServer, keptBytesFile: String?,
                 metrics: NodeMetrics, logger: Logger, republishInterval: Duration) {
        self.identity = identity
        self.dht = dht
        self.store = store
        self.ledger = ledger
        self.port = port
        self.server = server
        self.keptBytesFile = keptBytesFile
        self.metrics = metrics
        self.logger = logger
        republishing = Periodic(every: republishInterval)
    }

    /// Saves what must outlive a restart: the trust ledger, the routing
    /// table, and the DHT items stored or dropped since the last save.
    private func saveState() async throws {
        try await ledger.flush()
        try await store.table("dht").set(NodeContact.compact(await dht.knownContacts()), for: Self.routingKey)
        let items = store.table("dht-items")
        let changes = await dht.drainItemChanges()
        let kept = changes.compactMap { target, held in held.map { (key: target.bytes, value: Self.record(of: $0)) } }
        let gone = changes.filter { $0.held == nil }.map(\.target.bytes)
        if !kept.isEmpty { try await items.set(kept) }
        if !gone.isEmpty { try await items.remove(gone) }
    }

    /// Takes back the DHT items saved before the last stop; a record that is
    /// damaged, no longer valid or expired is deleted.
    private func restoreItems() async {
        let table = store.table("dht-items")
        let records = (try? table.entries()) ?? []
        let saved = records.compactMap { key, value in Self.heldItem(fromRecord: value).flatMap { $0.item.target.bytes == key ? $0 : nil } }
        let restored = await dht.restoreItems(saved)
        let dropped = records.map(\.key).filter { key in NodeID(bytes: key).map { !restored.contains($0) } ?? true }
        if !dropped.isEmpty { _ = try? await table.remove(dropped) }
        if !records.isEmpty {
            logger.info("restored DHT items", metadata: ["items": "\(restored.count)", "dropped": "\(records.count - restored.count)"])
        }
    }

    /// A saved DHT item: when it was last stored and when this version first
    /// arrived (Unix seconds, 8 bytes big-endian each), then the item's record.
    static func record(of held: HeldItem) -> [UInt8] {
        [held.storedAt, held.firstSeen].flatMap { withUnsafeBytes(of: UInt64(max(0, $0)).bigEndian, Array.init) } + held.item.record
    }

    static func heldItem(fromRecord bytes: [UInt8]) -> HeldItem? {
        guard bytes.count > 16, let item = StoredItem(record: Array(bytes[16...])) else { return nil }
        let storedAt = bytes[..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let firstSeen = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return HeldItem(item: item, storedAt: Double(storedAt), firstSeen: Double(firstSeen))
    }

    /// Joins through `bootstrap` and the contacts saved at the last stop.
    private func join(_ bootstrap: [SocketAddress]) async {
        let saved = (try? store.table("dht").value(for: Self.routingKey)).flatMap(NodeContact.decodeCompact) ?? []
        let known = saved.map(\.socketAddress)
        if !(bootstrap + known).isEmpty { _ = await dht.bootstrap(from: bootstrap + known) }
    }

    /// Periodic upkeep: refreshes the routing table, passes DHT items on to
    /// the nodes closest to them (every `republishInterval`), drops expired
    /// leases (hourly), saves the trust ledger, routing table and DHT items,
    /// and updates the level metrics. The first call does everything.
    public func maintain() async {
        await dht.maintain()
        adoptKeptBytes()
        if republishing.isDue() {
            let republished = await dht.republishHeldItems()
            if republished > 0 { logger.debug("republished DHT items", metadata: ["items": "\(republished)"]) }
        }
        do {
            if leaseCollection.isDue() {
                let dropped = try await store.collectExpiredLeases(now: UInt64(Date().timeIntervalSince1970))
                if dropped > 0 { logger.info("dropped expired claims", metadata: ["claims": "\(dropped)"]) }
            }
            try await saveState()
        } catch {
            logger.error("upkeep failed", metadata: ["error": "\(error)"])
        }
        await updateLevels()
    }

    /// Reads the user's ``KeptBytesFile`` into the ledger: each STORE is
    /// checked against the allowance it gives at that moment.
    private func adoptKeptBytes() {
        guard let keptBytesFile else { return }
        ledger.adoptKeptBytes(KeptBytesFile.read(keptBytesFile))
    }

    private func updateLevels() async {
        guard let statistics = try? store.statistics() else { return }
        metrics.storeLevels(fragments: statistics.fragments, bytes: statistics.fragmentBytes,
                            routingTable: await dht.routingTableSize(), connections: server.connectionCount)
    }

    /// What `flud node status` shows.
    public struct Status: Codable, Sendable, Equatable {
        public var key: String
        public var nodeID: String
        public var port: Int
        public var fragments: Int
        public var bytesStored: Int
        public var capacity: Int
        public var claims: Int
        public var owners: Int
        public var routingTable: Int
        public var peersKnown: Int
        public var connections: Int
        public var uptimeSeconds: Int

        enum CodingKeys: String, CodingKey {
            case key
            case nodeID = "node_id"
            case port, fragments
            case bytesStored = "bytes_stored"
            case capacity, claims, owners
            case routingTable = "routing_table"
            case peersKnown = "peers_known"
            case connections
            case uptimeSeconds = "uptime_s"
        }
    }

    public func status() async -> Status {
        let statistics = (try? store.statistics()) ?? StoreStatistics()
        return Status(key: identity.publicKey.hex, nodeID: dht.id.hex, port: port,
                      fragments: statistics.fragments, bytesStored: statistics.fragmentBytes,
                      capacity: statistics.capacity, claims: statistics.claims, owners: statistics.owners,
                      routingTable: await dht.routingTableSize(), peersKnown: ledger.peers.count,
                      connections: server.connectionCount, uptimeSeconds: Int(Date().timeIntervalSince(startedAt)))
    }

    func statusDocument() async -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(await status())) ?? Data())
    }

    /// Saves state and closes the sockets and the store.
    public func stop() async {
        await server.close()
        do {
            try await saveState()
        } catch {
            logger.error("could not save state at stop", metadata: ["error": "\(error)"])
        }
        await dht.close()
        store.close()
        logger.info("node stopped")
    }
}

/// Lets the service ask for the node's status before the node exists.
private actor StatusHolder {
    weak var node: StorageNode?

    func set(_ node: StorageNode) {
        self.node = node
    }
}

/// Work a node does at most once per interval, from its once-a-minute upkeep.
final class Periodic: Sendable {
    let interval: Duration
    /// When it last ran (nil: never, so it is due).
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    init(every interval: Duration) {
        self.interval = interval
    }

    /// Whether it is due at `now`; if so, counts it as run then.
    func isDue(at now: ContinuousClock.Instant = .now) -> Bool {
        last.withLock { last in
            guard last.map({ now - $0 >= interval }) ?? true else { return false }
            last = now
            return true
        }
    }
}
