internal import CLMDB
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One LMDB environment (a directory with `data.mdb` and `lock.mdb`) and its
/// named databases.
///
/// Thread rules: transactions run inside `read`/`write` closures and never leave
/// the thread that opened them (no `await` inside). Any number of readers run at
/// once; writes are serialised by the caller (FludStore has a single writer).
/// Growing the map waits until no transaction of this process is open.
final class LMDBEnvironment: @unchecked Sendable {
    let path: String
    private let environment: OpaquePointer
    private var databases: [String: MDB_dbi] = [:]
    /// Readers hold it shared, a map resize exclusively (mdb_env_set_mapsize
    /// requires that no transaction of this process is active).
    private let resizeLock: UnsafeMutablePointer<pthread_rwlock_t> = .allocate(capacity: 1)
    private(set) var mapSize: Int
    /// Set by `close()`, under the exclusive lock; checked under the shared one.
    private var isClosed = false
    /// Read transactions between uses, reset (`mdb_txn_reset`): renewing one
    /// costs less than beginning one, which under `MDB_NOTLS` allocates the
    /// transaction and takes the lock file's mutex to find a reader slot. A
    /// reset transaction holds its slot but pins no snapshot.
    private let idleReaders = Mutex<[IdleReader]>([])
    /// Idle read transactions kept; more are aborted (their slots freed).
    private static let idleReaderLimit = 32

    struct Options {
        var mapSize: Int
        var maxDatabases: UInt32 = 16
        var durable: Bool = true
    }

    init(path: String, options: Options, databaseNames: [String]) throws {
        self.path = path
        var environment: OpaquePointer?
        try lmdb("mdb_env_create") { mdb_env_create(&environment) }
        self.environment = environment!
        mapSize = options.mapSize
        pthread_rwlock_init(resizeLock, nil)
        // Every stored property is set, so if anything below throws, deinit
        // runs and closes the environment.
        try lmdb("mdb_env_set_mapsize") { mdb_env_set_mapsize(environment, options.mapSize) }
        try lmdb("mdb_env_set_maxdbs") { mdb_env_set_maxdbs(environment, options.maxDatabases) }
        try lmdb("mdb_env_set_maxreaders") { mdb_env_set_maxreaders(environment, 1024) }
        // NOTLS: read transactions belong to our closures, not to threads, so
        // Swift's cooperative pool cannot exhaust reader slots. NORDAHEAD: a
        // B-tree lookup touches scattered pages, and the kernel's read-ahead
        // would fill the cache with their neighbours; large values ask for
        // their own pages instead (`willRead`). NOSYNC is the documented
        // opt-out of durability.
        var flags = UInt32(MDB_NOTLS | MDB_NORDAHEAD)
        if !options.durable { flags |= UInt32(MDB_NOSYNC) }
        try lmdb("mdb_env_open") { mdb_env_open(environment, path, flags, 0o644) }
        try write { transaction in
            for name in databaseNames {
                var handle: MDB_dbi = 0
                try lmdb("mdb_dbi_open(\(name))") { mdb_dbi_open(transaction.handle, name, UInt32(MDB_CREATE), &handle) }
                databases[name] = handle
            }
        }
    }

    /// Asks the kernel to read every page of `bytes`, a value inside the map,
    /// at once. Under NORDAHEAD a value that is not in memory is otherwise
    /// read one page per fault: 1 MiB values came off this machine's disk at
    /// ~70 MB/s that way and at ~1.2 GB/s with this. It costs ~0.8 µs even
    /// when every page is in memory (a 64 KiB get takes ~3 µs), so callers
    /// ask only for values they found cold.
    func willRead(_ bytes: UnsafeRawBufferPointer) {
        guard let start = bytes.baseAddress, !bytes.isEmpty else { return }
        let page = UInt(sysconf(Int32(_SC_PAGESIZE)))
        let alignedStart = UInt(bitPattern: start) & ~(page - 1)
        let end = UInt(bitPattern: start) + UInt(bytes.count)
        _ = madvise(UnsafeMutableRawPointer(bitPattern: alignedStart), Int(end - alignedStart), MADV_WILLNEED)
    }

    /// Whether the first and last pages of `bytes`, a value inside the map,
    /// are in memory; asks the kernel (`mincore`) without touching them.
    func isInMemory(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let start = bytes.baseAddress, !bytes.isEmpty else { return true }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var resident: UInt8 = 0
        for address in [Int(bitPattern: start), Int(bitPattern: start) + bytes.count - 1] {
            guard mincore(UnsafeMutableRawPointer(bitPattern: address & ~(page - 1)), 1, &resident) == 0,
                  resident & 1 != 0 else { return false }
        }
        return true
    }

    deinit {
        if !isClosed {
            abortIdleReaders()
            mdb_env_close(environment)
        }
        pthread_rwlock_destroy(resizeLock)
        resizeLock.deallocate()
    }

    /// Closes the environment once running transactions finish; later ones
    /// fail with `LMDBError.closed`.
    func close() {
        pthread_rwlock_wrlock(resizeLock)
        defer { pthread_rwlock_unlock(resizeLock) }
        guard !isClosed else { return }
        isClosed = true
        abortIdleReaders()
        mdb_env_close(environment)
    }

    func database(_ name: String) -> LMDBDatabase {
        guard let handle = databases[name] else { preconditionFailure("database \(name) was not opened") }
        return LMDBDatabase(handle: handle)
    }

    /// Runs `body` in a read-only transaction, aborted when it returns.
    func read<Result, Failure: Error>(_ body: (LMDBTransaction) throws(Failure) -> Result) throws -> Result {
        pthread_rwlock_rdlock(resizeLock)
        defer { pthread_rwlock_unlock(resizeLock) }
        guard !isClosed else { throw LMDBError.closed }
        let transaction = try startReader()
        defer { finishReader(transaction) }
        return try body(LMDBTransaction(handle: transaction))
    }

    /// An idle read transaction renewed, or a new one.
    private func startReader() throws(LMDBError) -> OpaquePointer {
        if let idle = idleReaders.withLock({ $0.popLast() })?.transaction {
            if mdb_txn_renew(idle) == 0 { return idle }
            mdb_txn_abort(idle)
        }
        var transaction: OpaquePointer?
        try lmdb("mdb_txn_begin(read)") { mdb_txn_begin(environment, nil, UInt32(MDB_RDONLY), &transaction) }
        return transaction!
    }

    /// Ends a read transaction and keeps its handle for the next reader.
    private func finishReader(_ transaction: OpaquePointer) {
        mdb_txn_reset(transaction)
        let kept = idleReaders.withLock { idle in
            guard idle.count < Self.idleReaderLimit else { return false }
            idle.append(IdleReader(transaction: transaction))
            return true
        }
        if !kept { mdb_txn_abort(transaction) }
    }

    /// Frees the idle read transactions; before the environment closes.
    private func abortIdleReaders() {
        for idle in idleReaders.withLock({ idle in defer { idle.removeAll() }; return idle }) {
            mdb_txn_abort(idle.transaction)
        }
    }

    /// Runs `body` in a write transaction, committed if it returns and aborted if it throws.
    /// A commit of a durable environment returns once the data is on stable storage.
    func write<Result, Failure: Error>(_ body: (LMDBTransaction) throws(Failure) -> Result) throws -> Result {
        pthread_rwlock_rdlock(resizeLock)
        defer { pthread_rwlock_unlock(resizeLock) }
        guard !isClosed else { throw LMDBError.closed }
        var transaction: OpaquePointer?
        try lmdb("mdb_txn_begin(write)") { mdb_txn_begin(environment, nil, 0, &transaction) }
        let result: Result
        do {
            result = try body(LMDBTransaction(handle: transaction!))
        } catch {
            mdb_txn_abort(transaction)
            throw error
        }
        try lmdb("mdb_txn_commit") { mdb_txn_commit(transaction) }
        return result
    }

    /// Grows the map to `newSize` bytes. Waits for open transactions to finish.
    func resize(to newSize: Int) throws(LMDBError) {
        pthread_rwlock_wrlock(resizeLock)
        defer { pthread_rwlock_unlock(resizeLock) }
        guard !isClosed else { throw LMDBError.closed }
        try lmdb("mdb_env_set_mapsize") { mdb_env_set_mapsize(environment, newSize) }
        mapSize = newSize
    }

    /// Bytes of the map in use (last page number × page size).
    func usedBytes() throws(LMDBError) -> Int {
        guard !isClosed else { throw LMDBError.closed }
        var info = MDB_envinfo()
        var stat = MDB_stat()
        try lmdb("mdb_env_info") { mdb_env_info(environment, &info) }
        try lmdb("mdb_env_stat") { mdb_env_stat(environment, &stat) }
        return (info.me_last_pgno + 1) * Int(stat.ms_psize)
    }

    /// Flushes to disk (for environments opened without durability).
    func sync() throws(LMDBError) {
        guard !isClosed else { throw LMDBError.closed }
        try lmdb("mdb_env_sync") { mdb_env_sync(environment, 1) }
    }
}

/// A reset read transaction waiting for its next use; only one thread holds
/// it at a time (taken from and given back to the pool under its lock).
private struct IdleReader: @unchecked Sendable {
    let transaction: OpaquePointer
}

/// A named database inside an environment.
struct LMDBDatabase: Sendable {
    let handle: MDB_dbi
}

/// A transaction, valid only inside the `read`/`write` closure that received it.
struct LMDBTransaction {
    let handle: OpaquePointer

    /// The value stored under `key`, valid until the transaction ends; nil if absent.
    func get(_ key: UnsafeRawBufferPointer, in database: LMDBDatabase) throws(LMDBError) -> UnsafeRawBufferPointer? {
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var value = MDB_val()
        let code = mdb_get(handle, database.handle, &keyValue, &value)
        if code == MDB_NOTFOUND { return nil }
        guard code == 0 else { throw LMDBError(code: code, function: "mdb_get") }
        return UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size)
    }

    /// Reserves `size` bytes for `key` and returns them for the caller to fill
    /// (MDB_RESERVE: the value is written once, in place).
    func reserve(_ key: UnsafeRawBufferPointer, size: Int, in database: LMDBDatabase) throws(LMDBError) -> UnsafeMutableRawBufferPointer {
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var value = MDB_val(mv_size: size, mv_data: nil)
        try lmdb("mdb_put(reserve)") { mdb_put(handle, database.handle, &keyValue, &value, UInt32(MDB_RESERVE)) }
        return UnsafeMutableRawBufferPointer(start: value.mv_data, count: size)
    }

    func put(_ key: UnsafeRawBufferPointer, _ bytes: UnsafeRawBufferPointer, in database: LMDBDatabase) throws(LMDBError) {
        try reserve(key, size: bytes.count, in: database).copyMemory(from: bytes)
    }

    /// Deletes `key`; returns whether it was there.
    @discardableResult
    func delete(_ key: UnsafeRawBufferPointer, in database: LMDBDatabase) throws(LMDBError) -> Bool {
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let code = mdb_del(handle, database.handle, &keyValue, nil)
        if code == MDB_NOTFOUND { return false }
        guard code == 0 else { throw LMDBError(code: code, function: "mdb_del") }
        return true
    }

    /// Visits entries in key order, starting at the first key ≥ `start` (or the
    /// first key), until `body` returns false.
    func forEach(in database: LMDBDatabase, from start: UnsafeRawBufferPointer? = nil,
                 _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool) throws {
        var cursor: OpaquePointer?
        try lmdb("mdb_cursor_open") { mdb_cursor_open(handle, database.handle, &cursor) }
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val(mv_size: start?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: start?.baseAddress))
        var value = MDB_val()
        var operation = start == nil ? MDB_FIRST : MDB_SET_RANGE
        while true {
            let code = mdb_cursor_get(cursor, &key, &value, operation)
            if code == MDB_NOTFOUND { return }
            guard code == 0 else { throw LMDBError(code: code, function: "mdb_cursor_get") }
            let more = try body(UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size),
                                UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))
            guard more else { return }
            operation = MDB_NEXT
        }
    }

    /// The named database `name` if it exists; never creates it.
    func existingDatabase(_ name: String) throws(LMDBError) -> LMDBDatabase? {
        var database: MDB_dbi = 0
        let code = mdb_dbi_open(handle, name, 0, &database)
        if code == MDB_NOTFOUND { return nil }
        guard code == 0 else { throw LMDBError(code: code, function: "mdb_dbi_open(\(name))") }
        return LMDBDatabase(handle: database)
    }

    /// Deletes `database`, entries and name, from the environment.
    func drop(_ database: LMDBDatabase) throws(LMDBError) {
        try lmdb("mdb_drop") { mdb_drop(handle, database.handle, 1) }
    }

    /// Deletes every entry of `database`, keeping the database.
    func empty(_ database: LMDBDatabase) throws(LMDBError) {
        try lmdb("mdb_drop") { mdb_drop(handle, database.handle, 0) }
    }

    /// Number of entries in `database`.
    func count(in database: LMDBDatabase) throws(LMDBError) -> Int {
        var stat = MDB_stat()
        try lmdb("mdb_stat") { mdb_stat(handle, database.handle, &stat) }
        return stat.ms_entries
    }
}
