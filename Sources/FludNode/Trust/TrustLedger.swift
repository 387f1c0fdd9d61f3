import FludDHT
import FludStore
import FludWire
import Foundation
import Synchronization

/// What this node knows of each peer, kept across restarts: how the peer
/// behaved when it asked us for things (its faults get it throttled), how it
/// served us when we stored with it (placement prefers reliable peers), and
/// how many bytes we keep with it (fairness: its allowance here grows with it).
public final class TrustLedger: Sendable {
    /// One peer's record. Counters only grow; rates come from their ratios.
    public struct Record: Sendable, Equatable {
        /// Requests it made of us that we served.
        public var requestsServed: UInt64 = 0
        /// Requests it made of us that were its fault (bad key, malformed,
        /// replayed, out of range, over quota).
        public var faults: UInt64 = 0
        /// Our stores with it that it acknowledged / failed.
        public var storesSucceeded: UInt64 = 0
        public var storesFailed: UInt64 = 0
        /// Our retrieves from it that returned the right bytes / did not.
        public var retrievesSucceeded: UInt64 = 0
        public var retrievesFailed: UInt64 = 0
        /// Our audits of it that it passed / failed.
        public var auditsPassed: UInt64 = 0
        public var auditsFailed: UInt64 = 0
        /// Bytes we currently keep with it.
        public var bytesStoredWith: UInt64 = 0
        /// Unix seconds of the last contact either way.
        public var lastSeen: UInt64 = 0

        public init() {}

        static let fieldCount = 10

        var fields: [UInt64] {
            [requestsServed, faults, storesSucceeded, storesFailed, retrievesSucceeded, retrievesFailed,
             auditsPassed, auditsFailed, bytesStoredWith, lastSeen]
        }

        init?(encoded bytes: [UInt8]) {
            guard bytes.count == Self.fieldCount * 8 else { return nil }
            let values = (0..<Self.fieldCount).map { index in
                bytes[index * 8..<index * 8 + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            }
            (requestsServed, faults, storesSucceeded, storesFailed, retrievesSucceeded, retrievesFailed,
             auditsPassed, auditsFailed, bytesStoredWith, lastSeen) =
                (values[0], values[1], values[2], values[3], values[4], values[5], values[6], values[7], values[8], values[9])
        }

        var encoded: [UInt8] {
            fields.flatMap { value in (0..<8).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
        }

        /// How well the peer served us, from 0 to 1: successes over outcomes,
        /// with one imagined success and failure so an unknown peer scores 0.5.
        public var reliability: Double {
            let good = storesSucceeded + retrievesSucceeded + auditsPassed
            let bad = storesFailed + retrievesFailed + auditsFailed
            return (Double(good) + 1) / (Double(good + bad) + 2)
        }
    }

    /// Something that happened with a peer.
    public enum Event: Sendable {
        case served
        case fault
        case storeSucceeded(bytes: Int)
        case storeFailed
        case retrieveSucceeded
        case retrieveFailed
        case auditPassed
        case auditFailed
        /// We dropped `bytes` of ours kept with the peer.
        case released(bytes: Int)
    }

    public struct Policy: Sendable {
        /// Bytes a peer may store here beyond what we store with it.
        public var generosity: Int = 1 << 30
        /// Faults a peer may commit in a burst before it is throttled.
        public var faultBurst: Double = 20
        /// Faults forgiven per second.
        public var faultsForgivenPerSecond: Double = 1

        public init() {}
    }

    public let policy: Policy
    private let table: StoreTable
    private let state: Mutex<State>

    private struct State {
        var records: [PeerKey: Record] = [:]
        var dirty: Set<PeerKey> = []
        /// Per peer, a token bucket of faults (not persisted: a restart forgives).
        var faultBudget: TokenBuckets<PeerKey>
    }

    /// Loads the ledger kept in `table`.
    public init(table: StoreTable, policy: Policy = Policy()) throws {
        self.table = table
        self.policy = policy
        var records: [PeerKey: Record] = [:]
        for (key, value) in try table.entries() {
            if let peer = PeerKey(bytes: key), let record = Record(encoded: value) { records[peer] = record }
        }
        state = Mutex(State(records: records, faultBudget: TokenBuckets(rate: policy.faultsForgivenPerSecond, burst: policy.faultBurst)))
    }

    public func record(_ event: Event, for peer: PeerKey, now: Date = Date()) {
        state.withLock { state in
            var record = state.records[peer] ?? Record()
            switch event {
            case .served: record.requestsServed += 1
            case .fault:
                record.faults += 1
                state.faultBudget.spend(peer, now: now.timeIntervalSince1970)
            case let .storeSucceeded(bytes):
                record.storesSucceeded += 1
                record.bytesStoredWith += UInt64(bytes)
            case .storeFailed: record.storesFailed += 1
            case .retrieveSucceeded: record.retrievesSucceeded += 1
            case .retrieveFailed: record.retrievesFailed += 1
            case .auditPassed: record.auditsPassed += 1
            case .auditFailed: record.auditsFailed += 1
            case let .released(bytes): record.bytesStoredWith -= min(record.bytesStoredWith, UInt64(bytes))
            }
            record.lastSeen = UInt64(now.timeIntervalSince1970)
            state.records[peer] = record
            state.dirty.insert(peer)
        }
    }

    /// True while the peer has used up its fault budget.
    public func isThrottled(_ peer: PeerKey, now: Date = Date()) -> Bool {
        state.withLock { $0.faultBudget.tokens(peer, now: now.timeIntervalSince1970) < 1 }
    }

    public subscript(peer: PeerKey) -> Record {
        state.withLock { $0.records[peer] ?? Record() }
    }

    public var peers: [PeerKey: Record] {
        state.withLock { $0.records }
    }

    /// The bytes `peer` may keep here: what we keep with it plus the
    /// generosity margin (saturating). At least 1: the block store reads a
    /// quota of 0 as no limit, and an allowance of 0 means nothing.
    public func allowance(for peer: PeerKey) -> Int {
        let (sum, overflow) = policy.generosity.addingReportingOverflow(Int(clamping: self[peer].bytesStoredWith))
        return overflow ? Int.max : max(1, sum)
    }

    /// Takes what the node's user keeps on each peer (``KeptBytesFile``) as
    /// the bytes we keep with it; peers missing from `kept` keep nothing.
    /// Returns the peers whose figure changed.
    @discardableResult
    public func adoptKeptBytes(_ kept: [PeerKey: UInt64]) -> [PeerKey] {
        state.withLock { state in
            let peers = Set(kept.keys).union(state.records.filter { $0.value.bytesStoredWith > 0 }.keys)
            return peers.filter { peer in
                var record = state.records[peer] ?? Record()
                guard record.bytesStoredWith != kept[peer, default: 0] else { return false }
                record.bytesStoredWith = kept[peer, default: 0]
                state.records[peer] = record
                state.dirty.insert(peer)
                return true
            }
        }
    }

    /// `candidates` ordered for placement: most reliable first.
    public func rankedForPlacement(_ candidates: [PeerKey]) -> [PeerKey] {
        let records = peers
        return candidates.sorted { (records[$0] ?? Record()).reliability > (records[$1] ?? Record()).reliability }
    }

    /// Writes the records changed since the last flush. The writes go out
    /// together, so the store's group commit makes them one transaction.
    public func flush() async throws {
        let changed: [(PeerKey, Record)] = state.withLock { state in
            defer { state.dirty.removeAll() }
            return state.dirty.compactMap { peer in state.records[peer].map { (peer, $0) } }
        }
        let table = self.table
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (peer, record) in changed {
                group.addTask { try await table.set(record.encoded, for: peer.bytes) }
            }
            try await group.waitForAll()
        }
    }
}
