import Foundation

/// One snapshot: what was backed up, when, and where every chunk is. Stored
/// like data (sealed, erasure-coded, spread over nodes); the newest one is
/// named by the user's signed root in the DHT, and each names its predecessor.
///
/// The manifest itself is small: its entries live in pages, each stored like
/// data, so neither a backup nor a restore ever holds a snapshot of a million
/// files in memory whole.
public struct Manifest: Codable, Sendable {
    /// 3: entries in pages. 2: entries inline, small files may be packed.
    /// 1: entries inline. A reader refuses a version newer than it knows
    /// rather than restore it wrong.
    public var version = Manifest.currentVersion
    public static let currentVersion = 3
    /// Unix seconds.
    public var created: Double
    /// The paths the user named, absolute.
    public var roots: [String]
    /// Regular files in the snapshot, and their bytes (nil before version 3).
    public var files: Int?
    public var bytes: Int?
    /// The entries in walk order, a page at a time.
    public var pages: [ChunkRef]?
    /// Before version 3: the entries and packs inline, as one page.
    public var entries: [Entry]?
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
        /// The pack's hash (its `ChunkRef.hash`), listed in the page's `packs`.
        public var pack: String
        public var offset: Int
        /// The file's name (``ContentHash/init(chunk:)-(UnsafeRawBufferPointer)``;
        /// SHA-256 before 2026-12-04), hex: checks it on restore and dedupes
        /// equal small files across backups.
        public var hash: String
    }

    public init(created: Double, roots: [String], files: Int, bytes: Int, pages: [ChunkRef], previous: ChunkRef?) {
        self.created = created
        self.roots = roots
        self.files = files
        self.bytes = bytes
        self.pages = pages
        self.previous = previous
    }

    /// What a manifest of version 1 or 2 holds inline, as a page.
    var inlinePage: ManifestPage? {
        entries.map { ManifestPage(entries: $0, packs: packs ?? []) }
    }
}

/// A run of a snapshot's entries, in walk order, with the packs its packed
/// files lie in. Pages are stored like data and named in `Manifest.pages`.
public struct ManifestPage: Codable, Sendable {
    public var entries: [Manifest.Entry]
    /// Each pack a packed entry of this page lies in, once.
    public var packs: [ChunkRef]

    public init(entries: [Manifest.Entry] = [], packs: [ChunkRef] = []) {
        self.entries = entries
        self.packs = packs
    }

    /// Every chunk the page's entries need (files' chunks and packs), each once.
    public var storedChunks: [ChunkRef] {
        var seen = Set<String>()
        return (entries.flatMap { $0.chunks ?? [] } + packs).filter { seen.insert($0.hash).inserted }
    }

    /// The chunks `entry`'s bytes come from: its own, or its pack.
    public func chunks(of entry: Manifest.Entry) -> [ChunkRef] {
        if let packed = entry.packed { return packs.filter { $0.hash == packed.pack } }
        return entry.chunks ?? []
    }

    /// Appends pages' contents (for tests and small snapshots: the result is
    /// the whole snapshot in memory).
    mutating func append(_ page: ManifestPage) {
        entries += page.entries
        let known = Set(packs.map(\.hash))
        packs += page.packs.filter { !known.contains($0.hash) }
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
