/// A named key-value table in the store's environment, for the layers above
/// the block store: the DHT's persistent items, the node's own state. Small
/// values; writes go through the store's group commit like fragments do.
public struct StoreTable: Sendable {
    public let name: String
    let store: BlockStore
    let database: LMDBDatabase

    /// The value under `key`, copied out; nil if absent.
    public func value(for key: [UInt8]) throws -> [UInt8]? {
        try store.read { transaction in try key.withUnsafeBytes { try transaction.get($0, in: database) }.map(Array.init) }
    }

    /// Stores `value` under `key`, replacing what was there; returns after the commit.
    public func set(_ value: [UInt8], for key: [UInt8]) async throws {
        try checkKey(key)
        try await store.writer.perform(bytes: value.count) { transaction in
            try key.withUnsafeBytes { key in try value.withUnsafeBytes { try transaction.put(key, $0, in: database) } }
        }
    }

    /// Stores each value under its key in one transaction; returns after the commit.
    public func set(_ entries: [(key: [UInt8], value: [UInt8])]) async throws {
        for entry in entries { try checkKey(entry.key) }
        try await store.writer.perform(bytes: entries.reduce(0) { $0 + $1.key.count + $1.value.count }) { transaction in
            for (key, value) in entries {
                try key.withUnsafeBytes { key in try value.withUnsafeBytes { try transaction.put(key, $0, in: database) } }
            }
        }
    }

    /// Removes `key`; returns whether it was there.
    @discardableResult
    public func remove(_ key: [UInt8]) async throws -> Bool {
        try await remove([key]) == 1
    }

    /// Removes every key in one transaction; returns how many were there.
    @discardableResult
    public func remove(_ keys: [[UInt8]]) async throws -> Int {
        for key in keys { try checkKey(key) }
        return try await store.writer.perform { transaction in
            try keys.reduce(0) { removed, key in try removed + (key.withUnsafeBytes { try transaction.delete($0, in: database) } ? 1 : 0) }
        }
    }

    /// Removes every entry, in one transaction.
    public func removeAll() async throws {
        try await store.writer.perform { transaction in try transaction.empty(database) }
    }

    /// Every entry in key order, copied out.
    public func entries() throws -> [(key: [UInt8], value: [UInt8])] {
        try store.read { transaction in
            var entries: [([UInt8], [UInt8])] = []
            try transaction.forEach(in: database) { key, value in
                entries.append((Array(key), Array(value)))
                return true
            }
            return entries
        }
    }

    /// LMDB keys are 1 to 511 bytes.
    private func checkKey(_ key: [UInt8]) throws(StoreError) {
        guard (1...511).contains(key.count) else { throw .storage("a table key must be 1 to 511 bytes (got \(key.count))") }
    }
}

extension BlockStore {
    /// The table `name`, which must be one of ``Options/tables``.
    public func table(_ name: String) -> StoreTable {
        precondition(options.tables.contains(name), "table \(name) was not declared in BlockStore.Options.tables")
        return StoreTable(name: name, store: self, database: environment.database(Database.tablePrefix + name))
    }
}
