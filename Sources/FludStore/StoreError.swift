/// Why the block store refused or failed an operation. Each case leaves the
/// store as it was: nothing already stored is harmed.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes do not hash to the key they were offered under.
    case hashMismatch(key: String, actual: String)
    /// Fragments must hold at least one byte.
    case emptyFragment
    /// The fragment is larger than the store accepts.
    case fragmentTooLarge(size: Int, limit: Int)
    /// No fragment with this key is stored.
    case notFound(key: String)
    /// The stored bytes no longer match their checksum.
    case corrupt(key: String)
    /// The owner would exceed its quota.
    case quotaExceeded(used: Int, requested: Int, quota: Int)
    /// The store has reached its configured capacity (or the disk is full).
    case full(capacity: Int)
    /// Another process has the store open.
    case inUse(directory: String, byProcess: Int32?)
    /// The directory holds a data file that is not an LMDB environment (or one
    /// of an incompatible version).
    case notAStore(path: String)
    /// The directory cannot be created, read or written.
    case cannotOpen(directory: String, reason: String)
    /// The store was closed.
    case closed
    /// LMDB or the OS failed in a way not listed above.
    case storage(String)

    public var description: String {
        switch self {
        case let .hashMismatch(key, actual):
            "the fragment's bytes hash to \(actual.prefix(16))…, not to its key \(key.prefix(16))…"
        case .emptyFragment:
            "an empty fragment cannot be stored"
        case let .fragmentTooLarge(size, limit):
            "a fragment of \(size) bytes exceeds the store's limit of \(limit) bytes"
        case let .notFound(key):
            "no fragment \(key.prefix(16))… is stored"
        case let .corrupt(key):
            "fragment \(key.prefix(16))… is corrupt (checksum mismatch)"
        case let .quotaExceeded(used, requested, quota):
            "storing \(requested) more bytes would exceed the owner's quota (\(used) of \(quota) bytes used)"
        case let .full(capacity):
            "the store is full (capacity \(capacity) bytes, or no space left on the disk)"
        case let .inUse(directory, pid):
            "the store in \(directory) is in use by another process" + (pid.map { " (pid \($0))" } ?? "")
        case let .notAStore(path):
            "\(path) is not a flud store (not an LMDB data file, or an incompatible version)"
        case let .cannotOpen(directory, reason):
            "cannot open the store in \(directory): \(reason)"
        case .closed:
            "the store is closed"
        case let .storage(reason):
            "storage error: \(reason)"
        }
    }
}
