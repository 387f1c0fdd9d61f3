import FludCodec
import FludStore
import Foundation

/// What a user's machine remembers between backups, in $FLUD_HOME/index
/// (an LMDB store, so one backup runs at a time and every update is durable):
/// the chunks already uploaded (by plaintext hash) and where each packed
/// small file landed (by its hash), which is what lets an interrupted backup
/// resume without uploading them again; the last snapshot's entries (by
/// path), which make the next backup incremental; and when each chunk's
/// leases were last renewed (see `Leases`).
/// Losing it loses nothing: a new machine rebuilds it from the network.
final class LocalIndex: Sendable {
    private let store: BlockStore
    /// The last snapshot's entries are in one of two tables: a backup reads
    /// the current one and fills the other, which becomes current only once
    /// the new snapshot is published (a killed backup changes nothing).
    private let currentEntries: String
    private static let entryTables = ["entries-a", "entries-b"]
    private static let currentEntriesKey = Array("current-entries".utf8)

    init(home: String) throws {
        var options = BlockStore.Options()
        options.tables = ["chunks", "files", "state", "renewed"] + Self.entryTables
        options.maximumFragmentSize = 1
        store = try BlockStore(directory: home + "/index", options: options)
        let current = try store.table("state").value(for: Self.currentEntriesKey).map { String(decoding: $0, as: UTF8.self) }
        currentEntries = current.flatMap { Self.entryTables.contains($0) ? $0 : nil } ?? Self.entryTables[0]
    }

    private var nextEntries: String { Self.entryTables.first { $0 != currentEntries }! }

    /// The entry the last snapshot has for `path`, if any.
    func previousEntry(_ path: String) -> Manifest.Entry? {
        guard let data = try? store.table(currentEntries).value(for: Self.entryKey(path)),
              let entry = Manifest.Entry(indexRecord: data), entry.path == path else { return nil }
        return entry
    }

    /// Whether a snapshot's entries are recorded here (a new machine has none).
    var hasPreviousEntries: Bool {
        (try? store.table("state").value(for: Self.currentEntriesKey)) != nil
    }

    /// Clears the table the next snapshot's entries go to.
    func startRecordingEntries() async throws {
        try await store.table(nextEntries).removeAll()
    }

    /// Records entries of the snapshot being made, in one commit.
    func record(_ entries: [Manifest.Entry]) async throws {
        try await record(entries, in: nextEntries)
    }

    private func record(_ entries: [Manifest.Entry], in table: String) async throws {
        try await store.table(table).set(entries.map { (Self.entryKey($0.path), $0.indexRecord) })
    }

    /// The recorded entries become the previous snapshot's.
    func finishRecordingEntries() async throws {
        try await store.table("state").set(Array(nextEntries.utf8), for: Self.currentEntriesKey)
    }

    /// Makes a published snapshot's entries the previous ones (in the table
    /// this index reads them from), and records its chunks and packed files
    /// as stored. Their leases count as renewed `Leases.renewAfter` before
    /// the snapshot was made: the backup that made it renewed every chunk it
    /// used that was due, so each lease ran at least that long.
    func importEntries(of manifest: Manifest, from snapshots: SnapshotLog) async throws {
        try await store.table(currentEntries).removeAll()
        let made = UInt64(max(0, manifest.created))
        let assumedRenewal = made > Leases.renewAfter ? made - Leases.renewAfter : 0
        try await snapshots.forEachPage(of: manifest) { page in
            try await record(page.entries, in: currentEntries)
            let chunks = page.storedChunks
            try await recordStored(chunks)
            try await recordPacked(page.entries.compactMap(\.packed))
            try await markRenewed(chunks.filter { self.renewed($0.hash) == nil }.map(\.hash), at: assumedRenewal)
        }
        try await store.table("state").set(Array(currentEntries.utf8), for: Self.currentEntriesKey)
    }

    /// Paths can be longer than an LMDB key: entries are keyed by the path's hash.
    private static func entryKey(_ path: String) -> [UInt8] {
        ContentHash(of: Array(path.utf8)).bytes
    }

    /// Whether the chunk is known to be stored (cheaper than `chunk(_:)`).
    func knows(_ hash: String) -> Bool {
        (try? store.table("chunks").value(for: Array(hash.utf8))) != nil
    }

    func chunk(_ hash: String) -> ChunkRef? {
        guard let data = try? store.table("chunks").value(for: Array(hash.utf8)) else { return nil }
        return ChunkRef(indexRecord: data)
    }

    /// The chunk, if it is stored and its leases still run at `now` (with a
    /// day to spare): only such a chunk may be named by a new snapshot
    /// without asking its holders first. A chunk renewed longer ago may have
    /// been dropped by its nodes.
    func liveChunk(_ hash: String, at now: UInt64) -> ChunkRef? {
        leasesRun(on: hash, at: now) ? chunk(hash) : nil
    }

    func leasesRun(on hash: String, at now: UInt64) -> Bool {
        renewed(hash).map { Leases.stillRuns(renewedAt: $0, at: now) } ?? false
    }

    /// Records where `chunks` are now (after a repair moved some of their
    /// fragments); when their leases were renewed stays as it was.
    func relocate(_ chunks: [ChunkRef]) async throws {
        try await recordStored(chunks)
    }

    /// Remembers an uploaded chunk, stored (so its leases start) at `time`.
    func remember(_ chunk: ChunkRef, storedAt time: UInt64) async throws {
        try await recordStored([chunk])
        try await markRenewed([chunk.hash], at: time)
    }

    /// Where a small file with this hash was packed, if its pack is still
    /// stored (a pack dropped by `flud forget` is forgotten, and so are the
    /// files in it).
    func packedFile(_ hash: String) -> Manifest.PackedFile? {
        guard let data = try? store.table("files").value(for: Array(hash.utf8)),
              let file = Manifest.PackedFile(indexRecord: data), knows(file.pack) else { return nil }
        return file
    }

    /// Remembers an uploaded pack and the files in it. The files go first:
    /// `packedFile` finds one only once its pack is remembered too.
    func remember(pack: ChunkRef, files: [Manifest.PackedFile], storedAt time: UInt64) async throws {
        try await recordPacked(files)
        try await remember(pack, storedAt: time)
    }

    /// Chunks known to be stored, by hash, in one commit.
    private func recordStored(_ chunks: [ChunkRef]) async throws {
        try await store.table("chunks").set(chunks.map { (Array($0.hash.utf8), $0.indexRecord) })
    }

    /// Packed files' places, by the files' hashes, in one commit.
    private func recordPacked(_ files: [Manifest.PackedFile]) async throws {
        try await store.table("files").set(files.map { (Array($0.hash.utf8), $0.indexRecord) })
    }

    /// Forgets a chunk whose fragments were deleted, so no backup reuses it.
    func forget(_ hash: String) async throws {
        _ = try await store.table("chunks").remove(Array(hash.utf8))
        _ = try await store.table("renewed").remove(Array(hash.utf8))
    }

    /// When the chunk's fragments last had their leases renewed (or were
    /// stored), in Unix seconds; nil if this machine does not know.
    func renewed(_ hash: String) -> UInt64? {
        guard let bytes = try? store.table("renewed").value(for: Array(hash.utf8)), bytes.count == 8 else { return nil }
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    func markRenewed(_ hashes: [String], at time: UInt64) async throws {
        let bytes = withUnsafeBytes(of: time.bigEndian) { Array($0) }
        try await store.table("renewed").set(hashes.map { (Array($0.utf8), bytes) })
    }

    func close() {
        store.close()
    }
}
