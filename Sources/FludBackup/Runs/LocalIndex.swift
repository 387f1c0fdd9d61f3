import FludStore
import Foundation

/// What a user's machine remembers between backups, in $FLUD_HOME/index
/// (an LMDB store, so one backup runs at a time and every update is durable):
/// the chunks already uploaded (by plaintext hash) and where each packed
/// small file landed (by its hash), which is what lets an interrupted backup
/// resume without uploading them again, and the last
/// snapshot's manifest, which makes the next backup incremental; and when
/// each chunk's leases were last renewed (see `Leases`).
/// Losing it loses nothing: a new machine rebuilds it from the network.
final class LocalIndex: Sendable {
    private let store: BlockStore
    private static let latestKey = Array("latest-manifest".utf8)

    init(home: String) throws {
        var options = BlockStore.Options()
        options.tables = ["chunks", "files", "state", "renewed"]
        options.maximumFragmentSize = 1
        store = try BlockStore(directory: home + "/index", options: options)
    }

    func chunk(_ hash: String) -> ChunkRef? {
        guard let data = try? store.table("chunks").value(for: Array(hash.utf8)) else { return nil }
        return try? JSONDecoder().decode(ChunkRef.self, from: Data(data))
    }

    /// Remembers an uploaded chunk, stored (so its leases start) at `time`.
    func remember(_ chunk: ChunkRef, storedAt time: UInt64) async throws {
        try await store.table("chunks").set(Array(try JSONEncoder().encode(chunk)), for: Array(chunk.hash.utf8))
        try await markRenewed([chunk.hash], at: time)
    }

    /// Where a small file with this hash was packed, if its pack is still
    /// stored (a pack dropped by `flud forget` is forgotten, and so are the
    /// files in it).
    func packedFile(_ hash: String) -> (file: Manifest.PackedFile, pack: ChunkRef)? {
        guard let data = try? store.table("files").value(for: Array(hash.utf8)),
              let file = try? JSONDecoder().decode(Manifest.PackedFile.self, from: Data(data)),
              let pack = chunk(file.pack) else { return nil }
        return (file, pack)
    }

    /// Remembers an uploaded pack and the files in it. The files go first:
    /// `packedFile` finds one only once its pack is remembered too.
    func remember(pack: ChunkRef, files: [Manifest.PackedFile], storedAt time: UInt64) async throws {
        let encoder = JSONEncoder()
        try await store.table("files").set(try files.map { (Array($0.hash.utf8), Array(try encoder.encode($0))) })
        try await remember(pack, storedAt: time)
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

    var latestManifest: Manifest? {
        guard let data = try? store.table("state").value(for: Self.latestKey) else { return nil }
        return try? JSONDecoder().decode(Manifest.self, from: Data(data))
    }

    func setLatest(_ manifest: Manifest) async throws {
        try await store.table("state").set(Array(try JSONEncoder().encode(manifest)), for: Self.latestKey)
    }

    func close() {
        store.close()
    }
}
