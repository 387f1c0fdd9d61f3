import FludCodec
import Foundation

/// `flud forget`: drop old snapshots by a keep policy, re-link the kept ones,
/// and delete our claims on every fragment no kept snapshot needs, so nodes
/// reclaim the space (claims on unreachable nodes lapse with their leases).
public struct Forget: Sendable {
    public struct Policy: Sendable {
        public var keepLast = 0
        public var keepDaily = 0
        public var keepWeekly = 0

        public init() {}

        public var keepsSomething: Bool { keepLast > 0 || keepDaily > 0 || keepWeekly > 0 }
    }

    public struct Report: Sendable {
        public var kept: [String] = []
        public var dropped: [String] = []
        public var claimsDeleted = 0
        /// Claims that could not be deleted now (node unreachable).
        public var claimsLeft = 0
    }

    let keys: UserKeys
    let network: FragmentNetwork
    let home: String

    public init(keys: UserKeys, network: FragmentNetwork, home: String) {
        self.keys = keys
        self.network = network
        self.home = home
    }

    public func run(_ policy: Policy) async throws -> Report {
        precondition(policy.keepsSomething, "a policy that keeps nothing would drop every snapshot")
        let transfer = ObjectTransfer(network: network, codec: ObjectCodec(cipher: keys.cipher))
        let log = SnapshotLog(keys: keys, network: network, transfer: transfer)
        // The index first: it is locked while a backup runs, and a forget
        // must not rewrite the chain under a backup about to publish.
        let index = try LocalIndex(home: home)
        defer { index.close() }
        let base = await log.root()
        let chain = try await log.chain(from: base?.chunk)
        guard !chain.isEmpty else { throw BackupError.noSnapshots }
        let keep = Self.selection(of: chain.map { ($0.manifest.created, $0.manifest.roots) }, policy)
        var report = Report()
        report.kept = keep.sorted().map { SnapshotLog.id(of: chain[$0].reference) }
        report.dropped = chain.indices.filter { !keep.contains($0) }.map { SnapshotLog.id(of: chain[$0].reference) }
        guard !report.dropped.isEmpty else { return report }

        // Re-link the kept snapshots, oldest first; the root names the newest.
        // Only the small manifests are rewritten: their pages stay as they are.
        var previous: ChunkRef?
        var rewritten: [ChunkRef] = []
        for index in keep.sorted(by: >) {
            var manifest = chain[index].manifest
            manifest.previous = previous
            previous = try await log.store(manifest)
            rewritten.append(previous!)
        }
        try await log.point(to: previous!, replacing: base)

        // Kept: every page and chunk of a kept snapshot (a pack stays whole
        // while a kept snapshot uses any file in it). One set of hashes, one
        // per stored object, not per file.
        var kept = Set<String>()
        for index in keep {
            kept.formUnion((chain[index].manifest.pages ?? []).map(\.hash))
            try await log.forEachPage(of: chain[index].manifest) { kept.formUnion($0.storedChunks.map(\.hash)) }
        }
        // Doomed: every old manifest object (each was rewritten), and the
        // pages and chunks of dropped snapshots that no kept one uses. A
        // rewritten manifest can come out identical to an old one (same
        // content, same fragments): those stay.
        let live = Set(rewritten.flatMap(\.object.fragments).map { $0.key + "@" + $0.node })
        try await release(chain.map(\.reference), keepingFragments: live, index: index, into: &report)
        var released = kept
        for position in chain.indices where !keep.contains(position) {
            // The pages are read before they are released.
            let manifest = chain[position].manifest
            try await log.forEachPage(of: manifest) { page in
                try await release(page.storedChunks.filter { released.insert($0.hash).inserted }, index: index, into: &report)
            }
            try await release((manifest.pages ?? []).filter { released.insert($0.hash).inserted }, index: index, into: &report)
        }
        return report
    }

    /// Forgets `objects` in the index (first: a backup must never reuse an
    /// object being deleted), then deletes our claims on their fragments,
    /// except those in `keepingFragments` ("key@node").
    private func release(_ objects: [ChunkRef], keepingFragments live: Set<String> = [], index: LocalIndex,
                         into report: inout Report) async throws {
        guard !objects.isEmpty else { return }
        for object in objects { try await index.forget(object.hash) }
        let doomed = objects.flatMap(\.object.fragments).filter { !live.contains($0.key + "@" + $0.node) }
        let network = self.network
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            var running = 0
            var outcomes: [Bool] = []
            for location in doomed {
                guard let key = ContentHash(hex: location.key) else { continue }
                if running == 32, let outcome = await group.next() {
                    outcomes.append(outcome)
                    running -= 1
                }
                running += 1
                group.addTask { (try? await network.deleteClaim(key, at: location.node)) != nil }
            }
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        report.claimsDeleted += outcomes.filter { $0 }.count
        report.claimsLeft += outcomes.filter { !$0 }.count
    }

    /// Indices (newest first = 0) of the snapshots the policy keeps, applied
    /// to each set of backed-up paths on its own (as restic groups by paths):
    /// backing up ~/docs and ~/photos in turn, `--keep-last 1` keeps the
    /// newest of each, never drops one set's data for the other's.
    static func selection(of snapshots: [(created: Double, roots: [String])], _ policy: Policy) -> Set<Int> {
        var groups: [[String]: [Int]] = [:]
        for (index, snapshot) in snapshots.enumerated() { groups[snapshot.roots.sorted(), default: []].append(index) }
        var keep = Set<Int>()
        for members in groups.values {
            keep.formUnion(selection(of: members.map { snapshots[$0].created }, policy).map { members[$0] })
        }
        return keep
    }

    /// Indices (newest first = 0) of the snapshots the policy keeps: the last
    /// N, the newest of each of the last N days, the newest of each of the
    /// last N weeks (UTC; weeks as ISO weeks).
    static func selection(of created: [Double], _ policy: Policy) -> Set<Int> {
        var keep = Set(created.indices.prefix(policy.keepLast))
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        func newestPer(_ period: (Date) -> DateComponents, limit: Int) {
            var seen = Set<DateComponents>()
            for (index, seconds) in created.enumerated() where seen.count < limit {
                if seen.insert(period(Date(timeIntervalSince1970: seconds))).inserted { keep.insert(index) }
            }
        }
        newestPer({ calendar.dateComponents([.year, .month, .day], from: $0) }, limit: policy.keepDaily)
        newestPer({ calendar.dateComponents([.yearForWeekOfYear, .weekOfYear], from: $0) }, limit: policy.keepWeekly)
        return keep
    }
}
