import FludCodec
import FludWire
import Foundation

/// `flud verify` and `flud repair`: check that every fragment of the newest
/// snapshot is still held, and rebuild the missing ones from any k survivors.
public struct Maintenance: Sendable {
    public struct Report: Sendable {
        public var chunks = 0
        public var fragments = 0
        /// Fragments whose holder answered an audit (or served bytes) correctly.
        public var healthy = 0
        /// Fragments audited by a proof-of-storage challenge (VERIFY) rather
        /// than fetched.
        public var challenged = 0
        /// Fragments missing, unreachable or failing their audit.
        public var missing = 0
        public var rebuilt = 0
        /// Chunks with fewer than k fragments left: lost until their holders return.
        public var unrecoverable: [String] = []
        /// The snapshot published with the repaired locations, if any were rebuilt.
        public var newSnapshot: String?
        /// Per node "host:port": fragments that failed there.
        public var failuresByNode: [String: Int] = [:]
        /// Fragments of kept snapshots whose leases were renewed, and those that could not be.
        public var leasesRenewed = 0
        public var leasesFailed = 0
        /// Nodes that took the snapshot root when `flud verify` put it again.
        public var rootHolders = 0

        /// Adds one chunk's fragment states (true: healthy).
        mutating func count(_ states: [Bool], of chunk: ChunkRef) {
            chunks += 1
            fragments += states.count
            for (index, healthy) in states.enumerated() {
                if healthy {
                    self.healthy += 1
                } else {
                    missing += 1
                    failuresByNode[chunk.object.fragments[index].node, default: 0] += 1
                }
            }
        }
    }

    let keys: UserKeys
    let network: FragmentNetwork

    public init(keys: UserKeys, network: FragmentNetwork) {
        self.keys = keys
        self.network = network
    }

    private var transfer: ObjectTransfer { ObjectTransfer(network: network, codec: ObjectCodec(cipher: keys.cipher)) }

    /// Audits every holder of a `fraction` of the newest snapshot's chunks
    /// (chosen at random), and of its manifest and pages: k holders per chunk
    /// return their fragments, the others answer the node's proof of storage
    /// (VERIFY), checked against fragments rebuilt from those k (see
    /// `audit(_:)`). This needs no state kept from the backup (a new machine
    /// can run it) and proves possession outright.
    ///
    /// With `home`, it also renews the leases that are due on every fragment
    /// of every kept snapshot (manifests included), so data that is only kept,
    /// no longer backed up, stays claimed. It always puts the snapshot root
    /// again, so the root reaches the nodes now closest to it.
    public func verify(sample fraction: Double, renewingLeasesIn home: String? = nil) async throws -> Report {
        let log = SnapshotLog(keys: keys, network: network, transfer: transfer)
        guard let (manifest, reference) = try await log.latest() else { throw BackupError.noSnapshots }
        var report = Report()
        report.rootHolders = await log.republishRoot()
        if let home {
            let index = try LocalIndex(home: home)
            defer { index.close() }
            let leases = Leases(network: network, index: index)
            func renew(_ chunks: [ChunkRef]) async throws {
                let outcome = try await leases.renewDue(chunks)
                report.leasesRenewed += outcome.renewed
                report.leasesFailed += outcome.failed
            }
            for (kept, keptReference) in try await log.chain() {
                try await renew([keptReference] + (kept.pages ?? []))
                try await log.forEachPage(of: kept) { try await renew($0.storedChunks) }
            }
        }
        // The manifest and its pages always, a sample of the chunks.
        var generator = SystemRandomNumberGenerator()
        var seen = Set<String>()
        func audit(_ chunks: [ChunkRef]) async throws {
            try await forEach(chunks, { chunk in await self.audit(chunk) }) { chunk, outcome in
                let (states, challenged) = outcome
                report.count(states, of: chunk)
                report.challenged += challenged
                if states.filter({ $0 }).count < chunk.object.dataShards { report.unrecoverable.append(chunk.hash) }
            }
        }
        try await audit([reference] + (manifest.pages ?? []))
        // An unreadable page is already counted above (its own audit failed).
        try await log.forEachPage(of: manifest, unreadable: { _, _ in }) { page in
            try await audit(page.storedChunks.filter { chunk in
                seen.insert(chunk.hash).inserted && (fraction >= 1 || Double.random(in: 0..<1, using: &generator) < fraction)
            })
        }
        return report
    }

    /// Rebuilds every missing fragment of the newest snapshot that can be
    /// rebuilt, places it on a node that holds no other fragment of its chunk,
    /// and publishes the snapshot again with the new locations. A page at a
    /// time: a page whose chunks moved is stored anew, the others are kept
    /// (and rebuilt like chunks when they lost fragments).
    ///
    /// With `home`, the local index learns the new locations too, so the
    /// next backup's reused chunks name the rebuilt fragments, not the lost.
    public func repair(updatingIndexIn home: String? = nil) async throws -> Report {
        let log = SnapshotLog(keys: keys, network: network, transfer: transfer)
        // Locked before anything is published, like a backup's.
        let index = try home.map { try LocalIndex(home: $0) }
        defer { index?.close() }
        guard let base = await log.root() else { throw BackupError.noSnapshots }
        let (manifest, reference) = (try await log.manifest(base.chunk), base.chunk)
        // Nodes that joined since the backup can take the rebuilt fragments.
        await network.discover()
        var report = Report()
        var replacements: [String: ChunkRef] = [:]
        var checked = Set<String>()
        /// Checks `chunks` (each once in the run), rebuilds what can be and
        /// notes the new references in `replacements`.
        func repair(_ chunks: [ChunkRef]) async throws {
            try await forEach(chunks.filter { checked.insert($0.hash).inserted }, { chunk -> ([Bool], ChunkRef?) in
                let states = await check(chunk)
                let missing = states.indices.filter { !states[$0] }
                guard !missing.isEmpty, states.filter({ $0 }).count >= chunk.object.dataShards else { return (states, nil) }
                let replacement = try await rebuild(chunk, missing: missing)
                return (states, replacement)
            }) { chunk, outcome in
                let (states, replacement) = outcome
                report.count(states, of: chunk)
                if let replacement {
                    replacements[chunk.hash] = replacement
                    report.rebuilt += states.filter { !$0 }.count
                } else if states.filter({ $0 }).count < chunk.object.dataShards {
                    report.unrecoverable.append(chunk.hash)
                }
            }
        }
        try await repair([reference])
        // A manifest from before pages has its entries inline: they become a page.
        let sources: [ChunkRef?] = (manifest.inlinePage == nil ? [] : [nil]) + (manifest.pages ?? []).map { $0 }
        var pages: [ChunkRef] = []
        var changed = manifest.inlinePage != nil
        for source in sources {
            var page = manifest.inlinePage ?? ManifestPage()
            if let source { page = try await log.page(source) }
            try await repair(page.storedChunks)
            let moved = page.storedChunks.contains { replacements[$0.hash] != nil }
            if moved || source == nil {
                page.entries = page.entries.map { entry in
                    var entry = entry
                    entry.chunks = entry.chunks?.map { replacements[$0.hash] ?? $0 }
                    return entry
                }
                page.packs = page.packs.map { replacements[$0.hash] ?? $0 }
                pages.append(try await log.store(page))
                changed = true
            } else {
                try await repair([source!])
                pages.append(replacements[source!.hash] ?? source!)
                changed = changed || replacements[source!.hash] != nil
            }
        }
        guard changed || replacements[reference.hash] != nil else { return report }
        var repaired = manifest
        if let inline = manifest.inlinePage {
            let files = inline.entries.filter { $0.kind == .file }
            (repaired.files, repaired.bytes) = (files.count, files.reduce(0) { $0 + $1.size })
        }
        (repaired.version, repaired.pages, repaired.entries, repaired.packs) = (Manifest.currentVersion, pages, nil, nil)
        repaired.created = Date().timeIntervalSince1970
        repaired.previous = replacements[reference.hash] ?? reference
        report.newSnapshot = try await log.publish(repaired, replacing: base)
        try await index?.relocate(Array(replacements.values))
        return report
    }

    /// Chunks audited, checked or rebuilt at once: each waits on its holders
    /// (and, on a lossy network, on TCP retransmissions), so one at a time is slow.
    static let parallelChunks = 8

    /// Runs `work` on every chunk, `parallelChunks` at a time, and hands each
    /// chunk's result to `collect` as it comes; the first error stops the rest.
    private func forEach<Outcome: Sendable>(_ chunks: [ChunkRef], _ work: @escaping @Sendable (ChunkRef) async throws -> Outcome,
                                            collect: (ChunkRef, Outcome) -> Void) async throws {
        try await withThrowingTaskGroup(of: (ChunkRef, Outcome).self) { group in
            var next = 0
            func startNext() {
                guard next < chunks.count else { return }
                let chunk = chunks[next]
                next += 1
                group.addTask {
                    let outcome = try await work(chunk)
                    return (chunk, outcome)
                }
            }
            for _ in 0..<Self.parallelChunks { startNext() }
            while let (chunk, outcome) = try await group.next() {
                collect(chunk, outcome)
                startNext()
            }
        }
    }

    /// For each fragment: did its holder prove it holds it? k holders, chosen
    /// at random, by returning their fragment (checked against its key); each
    /// other holder by answering a fresh proof-of-storage challenge (VERIFY)
    /// over its whole fragment, checked against that fragment rebuilt from the
    /// k (sealing and coding are deterministic). An audit needs nothing kept
    /// from the backup and moves k fragments, not n; over audits, every holder
    /// meets both kinds. With fewer than k fragments to be had, nothing can be
    /// rebuilt, and only the holders that returned theirs count as healthy.
    /// Returns each fragment's state and how many were challenged.
    private func audit(_ chunk: ChunkRef) async -> (states: [Bool], challenged: Int) {
        let object = chunk.object
        let fetched = await transfer.fetch(chunk, order: object.fragments.indices.shuffled())
        var states = object.fragments.indices.map { fetched[$0] != nil }
        guard fetched.count >= object.dataShards, let plaintext = try? transfer.codec.open(fetched, chunk: chunk),
              let rebuilt = try? transfer.codec.seal(plaintext, hash: chunk.plaintextHash, dataShards: object.dataShards,
                                                     parityShards: object.parityShards)
        else { return (states, 0) }
        let network = self.network
        await withTaskGroup(of: (Int, Bool).self) { group in
            for (index, location) in object.fragments.enumerated() where fetched[index] == nil {
                let fragment = rebuilt.fragments[index]
                group.addTask {
                    guard let key = ContentHash(hex: location.key), key.identifies(fragment) else { return (index, false) }
                    let challenge = AuditChallenge.random(offset: 0, length: UInt64(fragment.count))
                    let expected = fragment.withUnsafeBytes { challenge.answer(for: $0) }
                    let passed = await network.audit(key, challenge: challenge, expecting: expected, at: location.node)
                    return (index, passed)
                }
            }
            for await (index, passed) in group { states[index] = passed }
        }
        return (states, object.fragments.count - fetched.count)
    }

    /// For each fragment: does its node say it holds it for us (STAT)?
    private func check(_ chunk: ChunkRef) async -> [Bool] {
        await probe(chunk) { network, key, node in (try? await network.holds(key, at: node)) == true }
    }

    /// `test` run on every fragment of `chunk` at once; a malformed key fails.
    private func probe(_ chunk: ChunkRef,
                       _ test: @escaping @Sendable (FragmentNetwork, ContentHash, String) async -> Bool) async -> [Bool] {
        let network = self.network
        return await withTaskGroup(of: (Int, Bool).self) { group in
            for (index, location) in chunk.object.fragments.enumerated() {
                group.addTask {
                    guard let key = ContentHash(hex: location.key) else { return (index, false) }
                    let passed = await test(network, key, location.node)
                    return (index, passed)
                }
            }
            var states = [Bool](repeating: false, count: chunk.object.fragments.count)
            for await (index, healthy) in group { states[index] = healthy }
            return states
        }
    }

    /// Fetches k fragments, regenerates the missing ones (sealing and coding
    /// are deterministic, so they come out byte-identical to the lost ones),
    /// stores them on nodes new to this chunk, and returns the updated reference.
    private func rebuild(_ chunk: ChunkRef, missing: [Int]) async throws -> ChunkRef {
        let plaintext = try await transfer.download(chunk)
        let codec = ObjectCodec(cipher: keys.cipher)
        let sealed = try codec.seal(plaintext, hash: chunk.plaintextHash, dataShards: chunk.object.dataShards,
                                    parityShards: chunk.object.parityShards)
        var updated = chunk
        let used = Set(chunk.object.fragments.indices.filter { !missing.contains($0) }.map { chunk.object.fragments[$0].node })
        let candidates = await network.placement(for: chunk.plaintextHash, count: await network.nodes.count)
        let fresh = candidates.filter { !used.contains($0) }
        for (slot, index) in missing.enumerated() {
            let bytes = sealed.fragments[index]
            guard let key = ContentHash(hex: chunk.object.fragments[index].key), key.identifies(bytes) else {
                throw BackupError.corruptObject("fragment \(index) of chunk \(chunk.hash.prefix(16)) does not come out as it was stored")
            }
            let ordered = fresh.isEmpty ? candidates : Array(fresh[(slot % fresh.count)...] + fresh[..<(slot % fresh.count)])
            let node = try await network.store(bytes, key: key, preferred: ordered[0], alternates: Array(ordered.dropFirst()))
            updated.object.fragments[index].node = node
        }
        return updated
    }
}
