import Foundation

/// One snapshot: what was backed up, when, and where every chunk is. Stored
/// like data (sealed, erasure-coded, spread over nodes); the newest one is
/// named by the user's signed root in the DHT, and each names its predecessor.
public struct Manifest: Codable, Sendable {
    /// 2: small files may be packed (`packs`, `Entry.packed`). A reader
    /// refuses a version newer than it knows rather than restore it wrong.
    public var version = Manifest.currentVersion
    public static let currentVersion = 2
    /// Unix seconds.
    public var created: Double
    /// The paths the user named, absolute.
    public var roots: [String]
    public var entries: [Entry]
    /// Chunks that hold many small files back to back (see `Entry.packed`),
    /// each listed once however many files it holds.
    public var packs: [ChunkRef]?
    /// The snapshot before this one.
    public var previous: ChunkRef?

    public struct Entry: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable { case file, directory, symlink }
        /// Absolute path at backup time.
        public var path: String
        public var kind: Kind
        public var mode: UInt32
        /// Modification time, Unix nanoseconds.
        public var modified: Int64
        public var size: Int
        /// Device and inode at backup time: with size and time, what tells an
        /// unchanged file on the next backup.
        public var inode: UInt64
        public var device: UInt64
        public var target: String?
        /// A file's own chunks, in order; nil for a packed file.
        public var chunks: [ChunkRef]?
        /// Where a small file's bytes lie in a pack.
        public var packed: PackedFile?
    }

    /// A small file stored inside a pack: `size` bytes from `offset`.
    public struct PackedFile: Codable, Sendable, Equatable {
        /// The pack's hash (its `ChunkRef.hash`), listed in `Manifest.packs`.
        public var pack: String
        public var offset: Int
        /// SHA-256 of the file, hex: checks it on restore and dedupes equal
        /// small files across backups.
        public var hash: String
    }

    public init(created: Double, roots: [String], entries: [Entry], packs: [ChunkRef]? = nil, previous: ChunkRef?) {
        self.created = created
        self.roots = roots
        self.entries = entries
        self.packs = packs
        self.previous = previous
    }

    /// Every chunk the snapshot needs (files' chunks and packs), each once.
    public var storedChunks: [ChunkRef] {
        var seen = Set<String>()
        return (entries.flatMap { $0.chunks ?? [] } + (packs ?? [])).filter { seen.insert($0.hash).inserted }
    }

    /// The chunks `entry`'s bytes come from: its own, or its pack.
    public func chunks(of entry: Entry) -> [ChunkRef] {
        if let packed = entry.packed { return (packs ?? []).filter { $0.hash == packed.pack } }
        return entry.chunks ?? []
    }
}

/// A snapshot as `flud snapshots` lists it.
public struct SnapshotSummary: Sendable {
    /// The first 16 hex digits of the manifest's hash.
    public var id: String
    public var created: Double
    public var roots: [String]
    public var files: Int
    public var bytes: Int
}
