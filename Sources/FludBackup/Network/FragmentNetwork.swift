import FludCodec
import FludDHT
import FludNode
import FludStore
import FludWire
import Foundation
import NIOCore

/// The storage nodes a backup talks to: found through the DHT, one reused
/// connection each, fragments placed on distinct nodes.
public actor FragmentNetwork {
    public let dht: DHTNode
    public let identity: PeerIdentity
    /// Storage nodes found, by "host:port", with their DHT IDs.
    public private(set) var nodes: [(address: String, id: NodeID)] = []
    private var clients: [String: FragmentClient] = [:]
    private var connecting: [String: Task<FragmentClient, Error>] = [:]
    /// Nodes that failed during this run: tried last.
    private var failed: Set<String> = []
    /// Fragment bytes received so far.
    public private(set) var bytesFetched = 0
    /// Fragment bytes stored on nodes so far.
    public private(set) var bytesStored = 0
    /// How each node served us (stores, retrieves: a corrupt fragment counts
    /// against its holder), kept across runs when the network was joined with
    /// a ledger directory. Placement puts distrusted nodes last.
    public nonisolated let ledger: TrustLedger?
    private let ledgerStore: BlockStore?
    private let keptBytesFile: String?
    /// Each connected node's key and DHT ID, by "host:port", for the ledger
    /// (the ID is hashed from the key once, not per fragment).
    private var nodeKeys: [String: (key: PeerKey, id: NodeID)] = [:]
    /// DHT IDs of the nodes the ledger distrusts: read once, then kept up to
    /// date as events are noted (placement asks for every chunk).
    private var distrusted: Set<NodeID>

    /// Joins the DHT through `bootstrap` (as a read-only client) and, when
    /// `discovering` (placement needs it; fetching from known locations does
    /// not), collects the storage nodes it can find.
    ///
    /// - Parameter ledgerDirectory: where the trust ledger is kept across runs
    ///   (`$FLUD_HOME/trust`). If it cannot be opened (another flud command
    ///   holds it), this run keeps its ledger in memory only.
    public static func join(bootstrap: [SocketAddress], identity: PeerIdentity, discovering: Bool = true,
                            ledgerDirectory: String? = nil) async throws -> FragmentNetwork {
        let dht = try await DHTNode.start(readOnly: true, queryTimeout: .seconds(1))
        guard await dht.bootstrap(from: bootstrap) > 0 else {
            await dht.close()
            throw WireError.unreachable("none of the bootstrap nodes answered")
        }
        var options = BlockStore.Options()
        options.tables = ["peers"]
        options.maximumFragmentSize = 1
        let store = ledgerDirectory.flatMap { try? BlockStore(directory: $0, options: options) }
        let ledger = store.flatMap { try? TrustLedger(table: $0.table("peers")) }
        let network = FragmentNetwork(dht: dht, identity: identity, ledger: ledger, ledgerStore: store,
                                      keptBytesFile: ledger == nil ? nil : ledgerDirectory.map(Self.keptBytesFile(in:)))
        if discovering { await network.discover() }
        return network
    }

    /// Where a ledger directory's ``KeptBytesFile`` is: what `flud node --home` reads.
    public static func keptBytesFile(in ledgerDirectory: String) -> String {
        ledgerDirectory + "/kept-bytes"
    }

    private init(dht: DHTNode, identity: PeerIdentity, ledger: TrustLedger?, ledgerStore: BlockStore?, keptBytesFile: String?) {
        self.keptBytesFile = keptBytesFile
        self.dht = dht
        self.identity = identity
        self.ledger = ledger
        self.ledgerStore = ledgerStore
        distrusted = Set((ledger?.peers ?? [:]).filter { Self.isDistrusted($0.value) }.keys.map(StorageNode.nodeID(for:)))
    }

    /// The order to fetch from `holders` (indices): the rest as given (data
    /// shards first: no decoding), then nodes that answered this run's
    /// retrieves far slower than the others (``RetrieveTimes``), then
    /// nodes that failed in this run or that the ledger distrusts.
    public func fetchOrder(_ holders: [String]) -> [Int] {
        let slow = retrieveTimes.slow()
        let rank = holders.map { holder in
            isDoubtful(holder, id: nodeKeys[holder]?.id) ? 2 : slow.contains(holder) ? 1 : 0
        }
        return (0...2).flatMap { level in holders.indices.filter { rank[$0] == level } }
    }

    private var retrieveTimes = RetrieveTimes()

    func noteRetrieve(at address: String, seconds: Double, bytes: Int) {
        retrieveTimes.note(address, seconds: seconds, bytes: bytes)
    }

    /// Failed in this run, or distrusted by the ledger (when its ID is known).
    private func isDoubtful(_ address: String, id: NodeID?) -> Bool {
        failed.contains(address) || id.map(distrusted.contains) == true
    }

    /// A node we have seen fail us repeatedly, more often than serve us.
    static func isDistrusted(_ record: TrustLedger.Record) -> Bool {
        record.storesFailed + record.retrievesFailed + record.auditsFailed >= 3 && record.reliability < 0.5
    }

    /// Walks the DHT towards random targets and keeps every node it meets,
    /// until six walks in a row find nobody new (at most 64 walks, at most
    /// `budget`): each walk sees the few nodes nearest its target, so covering
    /// a network takes many; where nodes have died, each walk also waits out
    /// their query timeouts, and the budget keeps that from stalling a repair.
    public func discover(budget: Duration = .seconds(5)) async {
        var seen = Set(nodes.map(\.address))
        var quietWalks = 0
        let deadline = ContinuousClock.now + budget
        for _ in 0..<64 where quietWalks < 6 && ContinuousClock.now < deadline {
            var found = false
            // Three buckets' worth per walk: the k closest alone left a few of 40 nodes unmet.
            for contact in await dht.lookup(NodeID.random(), count: 3 * RoutingTable.bucketSize) + (await dht.knownContacts()) {
                let address = "\(contact.host):\(contact.port)"
                if seen.insert(address).inserted {
                    nodes.append((address, contact.id))
                    found = true
                }
            }
            quietWalks = found ? 0 : quietWalks + 1
        }
    }

    /// `count` node addresses for the fragments of the object named `name`:
    /// nodes by XOR distance of their ID to the name (so placement spreads
    /// evenly and is repeatable), nodes that failed in this run or that the
    /// trust ledger distrusts last, each used once before any is used twice.
    public func placement(for name: ContentHash, count: Int) -> [String] {
        let target = NodeID(bytes: name.bytes.prefix(NodeID.byteCount))!
        let ordered = nodes.sorted { lhs, rhs in
            let (lhsDoubtful, rhsDoubtful) = (isDoubtful(lhs.address, id: lhs.id), isDoubtful(rhs.address, id: rhs.id))
            if lhsDoubtful != rhsDoubtful { return !lhsDoubtful }
            return lhs.id.distance(to: target) < rhs.id.distance(to: target)
        }.map(\.address)
        guard !ordered.isEmpty else { return [] }
        return (0..<count).map { ordered[$0 % ordered.count] }
    }

    /// With fewer nodes than fragments per object, placement puts several
    /// fragments of an object on one node: how many at most, and how many
    /// nodes may then be lost with every object still whole (any `count`
    /// nodes when each holds one fragment).
    public func spread(dataShards: Int, parityShards: Int) -> (fragmentsPerNode: Int, nodesThatMayFail: Int) {
        let perNode = (dataShards + parityShards + nodes.count - 1) / max(nodes.count, 1)
        return (perNode, parityShards / max(perNode, 1))
    }

    /// Stores `bytes` on the node at `preferred`, or on the next nodes of
    /// `alternates` if it fails. Returns where it landed.
    public func store(_ bytes: [UInt8], key: ContentHash, preferred: String, alternates: [String]) async throws -> String {
        var lastError: Error = BackupError.notEnoughNodes(found: nodes.count)
        for address in [preferred] + alternates.filter({ $0 != preferred }) {
            do {
                // An explicit lease, the term `Leases` renews by, whatever the node's default.
                let outcome = try await client(for: address).store(bytes, key: key,
                                                                   leaseExpiry: UInt64(Date().timeIntervalSince1970) + Leases.term)
                // A renewed lease is a claim already counted.
                note(.storeSucceeded(bytes: outcome == .leaseRenewed ? 0 : bytes.count), at: address)
                bytesStored += bytes.count
                return address
            } catch {
                lastError = error
                note(.storeFailed, at: address)
                await markFailed(address, error)
            }
        }
        throw BackupError.uploadFailed("fragment \(key.hex.prefix(16)) could not be stored anywhere (\(lastError))")
    }

    /// The fragment `key` from the node at `address`, checked against the key.
    public func retrieve(_ key: ContentHash, from address: String) async throws -> [UInt8] {
        do {
            let client = try await client(for: address)
            let started = ContinuousClock.now   // after connecting: a first retrieve is not slower for it
            let bytes = try await client.retrieve(key)
            noteRetrieve(at: address, seconds: (ContinuousClock.now - started) / .seconds(1), bytes: bytes.count)
            bytesFetched += bytes.count
            note(.retrieveSucceeded, at: address)
            return bytes
        } catch {
            // Wrong bytes (bad key), a fragment the node finds corrupt, or no answer.
            note(.retrieveFailed, at: address)
            await markFailed(address, error)
            throw error
        }
    }

    /// True if the node at `address` holds `key` for us; false if it answers
    /// that it does not; throws if it cannot be asked.
    public func holds(_ key: ContentHash, at address: String) async throws -> Bool {
        try await claimRequest(at: address) { _ = try await $0.stat(key) }
    }

    /// Extends our claim on `key` at `address` to at least `leaseExpiry`;
    /// false if the node holds no claim of ours; throws if it cannot be asked.
    public func renew(_ key: ContentHash, at address: String, until leaseExpiry: UInt64) async throws -> Bool {
        try await claimRequest(at: address) { _ = try await $0.renew(key, until: leaseExpiry) }
    }

    /// Drops our claim on `key` at `address`; false if the node had none.
    public func deleteClaim(_ key: ContentHash, at address: String) async throws -> Bool {
        try await claimRequest(at: address) { client in
            let released = try await client.delete(key)
            note(.released(bytes: Int(clamping: released ?? 0)), at: address)
        }
    }

    /// Runs a request about one of our claims: true when it succeeds, false
    /// when the node holds no such claim, and any other failure thrown.
    private func claimRequest(at address: String, _ request: (FragmentClient) async throws -> Void) async throws -> Bool {
        do {
            try await request(try await client(for: address))
            return true
        } catch let error as WireError {
            if case .refused(.notFound, _) = error { return false }
            await markFailed(address, error)
            throw error
        }
    }

    /// Whether the node at `address` proves it holds `key`: its answer to
    /// `challenge` (VERIFY) must be `expected`. Recorded in the ledger as an
    /// audit passed or failed.
    public func audit(_ key: ContentHash, challenge: AuditChallenge, expecting expected: [UInt8], at address: String) async -> Bool {
        do {
            let passed = try await client(for: address).verify(key, challenge: challenge) == expected
            note(passed ? .auditPassed : .auditFailed, at: address)
            return passed
        } catch {
            note(.auditFailed, at: address)
            await markFailed(address, error)
            return false
        }
    }

    /// Records `event` in the ledger for the node at `address`, once we know its key.
    private func note(_ event: TrustLedger.Event, at address: String) {
        guard let ledger, let (key, id) = nodeKeys[address] else { return }
        ledger.record(event, for: key)
        if Self.isDistrusted(ledger[key]) { distrusted.insert(id) } else { distrusted.remove(id) }
    }

    private func markFailed(_ address: String, _ error: Error) async {
        failed.insert(address)
        // A broken connection is dropped so the next use reconnects.
        if case .refused = error as? WireError { return }
        if let client = clients.removeValue(forKey: address) { await client.close() }
    }

    private func client(for address: String) async throws -> FragmentClient {
        if let client = clients[address] { return client }
        if let pending = connecting[address] { return try await pending.value }
        let identity = self.identity
        let task = Task {
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
                throw WireError.unreachable("bad node address \(address)")
            }
            // Fragments are at most a few MiB (chunks average 1 MiB, over k):
            // a node that has not answered in 15 s is treated as gone.
            return try await FragmentClient.connect(host: String(address[..<colon]), port: port, identity: identity,
                                                    connectTimeout: .seconds(2), requestTimeout: .seconds(15))
        }
        connecting[address] = task
        defer { connecting[address] = nil }
        let client = try await task.value
        clients[address] = client
        nodeKeys[address] = (client.nodeKey, StorageNode.nodeID(for: client.nodeKey))
        return client
    }

    /// Leaves the network; the ledger's changes are written out.
    public func close() async {
        for client in clients.values { await client.close() }
        clients = [:]
        await dht.close()
        try? await ledger?.flush()
        if let ledger, let keptBytesFile {
            try? KeptBytesFile.write(ledger.peers.mapValues(\.bytesStoredWith), to: keptBytesFile)
        }
        ledgerStore?.close()
    }
}
