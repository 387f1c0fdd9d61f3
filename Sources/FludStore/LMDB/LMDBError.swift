internal import CLMDB
#if canImport(Glibc)
import Glibc
#endif

/// A non-zero LMDB return code, kept as a value so callers can match on it.
struct LMDBError: Error, Equatable, CustomStringConvertible {
    let code: Int32
    /// The LMDB function that returned it.
    let function: String

    static let notFound = MDB_NOTFOUND
    static let mapFull = MDB_MAP_FULL
    static let invalid = MDB_INVALID
    static let versionMismatch = MDB_VERSION_MISMATCH
    static let mapResized = MDB_MAP_RESIZED
    /// The environment was closed by this process (not an LMDB code).
    static let closed = LMDBError(code: -1, function: "closed environment")

    var description: String {
        code == -1 ? "the store is closed" : "\(function): \(String(cString: mdb_strerror(code)))"
    }
}

/// Runs an LMDB call and turns a non-zero return code into an ``LMDBError``.
/// Every LMDB call in FludStore goes through here.
@inline(__always)
func lmdb(_ function: String, _ call: () -> Int32) throws(LMDBError) {
    let code = call()
    guard code == 0 else { throw LMDBError(code: code, function: function) }
}
