import Foundation

/// One snapshot: what was backed up, when, and where every chunk is. Stored
/// like data (sealed, erasure-coded, spread over nodes); the newest one is
/// named by the user's signed root in the DHT, and each names its predecessor.
public struct Manifest: Codable, Sendable {
    public var version = 1
    /// Unix seconds.
    public var created: Double
    /// The paths the user named, absolute.
    public var roots: [String]
    public var entries: [Entry]
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
        public var chunks: [ChunkRef]?
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
