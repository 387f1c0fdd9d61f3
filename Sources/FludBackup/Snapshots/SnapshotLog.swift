import FludCodec
import FludDHT
import Foundation

/// The user's snapshots: manifests stored like data, the newest named by the
/// signed root in the DHT, each naming the one before.
struct SnapshotLog: Sendable {
    let keys: UserKeys
    let network: FragmentNetwork
    let transfer: ObjectTransfer

    /// The root as published: the newest manifest and its sequence number.
    typealias Root = (chunk: ChunkRef, sequence: Int64)

    func root() async -> Root? {
        guard let item = await rootItem(), let chunk = SnapshotRoot.decode(item.value) else { return nil }
        return (chunk, item.mutable!.sequence)
    }

    /// The signed root item, if the DHT has one signed by the user's key.
    private func rootItem() async -> StoredItem? {
        let item = await network.dht.get(SnapshotRoot.target(for: keys), salt: SnapshotRoot.salt)
        guard let item, let mutable = item.mutable, mutable.publicKey == keys.snapshotKey.publicKey else { return nil }
        return item
    }

    /// Puts the root as it is (same version, same signature) to the nodes now
    /// closest to it, so it outlives the nodes that hold it today. Returns
    /// how many nodes took it.
    func republishRoot() async -> Int {
        guard let item = await rootItem() else { return 0 }
        return (try? await network.dht.put(item)) ?? 0
    }

    func latestReference() async throws -> ChunkRef? {
        await root()?.chunk
    }

    func latest() async throws -> (manifest: Manifest, reference: ChunkRef)? {
        guard let (chunk, _) = await root() else { return nil }
        let latest = try await manifest(chunk)
        return (latest, chunk)
    }

    func manifest(_ chunk: ChunkRef) async throws -> Manifest {
        let bytes = try await transfer.download(chunk)
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: Data(bytes))
        } catch {
            throw BackupError.corruptObject("the snapshot manifest \(chunk.hash.prefix(16)) does not parse")
        }
        guard manifest.version <= Manifest.currentVersion else {
            throw BackupError.corruptObject("the snapshot manifest \(chunk.hash.prefix(16)) has version \(manifest.version), "
                                            + "newer than this flud reads (\(Manifest.currentVersion)); upgrade flud")
        }
        return manifest
    }

    /// Stores `manifest` and points the root at it in place of `base`, the
    /// root it was made from. Returns the snapshot's ID.
    func publish(_ manifest: Manifest, replacing base: Root?) async throws -> String {
        let chunk = try await store(manifest)
        try await point(to: chunk, replacing: base)
        return Self.id(of: chunk)
    }

    /// Stores `manifest` like data, with the manifest code.
    func store(_ manifest: Manifest) async throws -> ChunkRef {
        try await storeEncoded(manifest)
    }

    /// Stores a page of entries like a manifest.
    func store(_ page: ManifestPage) async throws -> ChunkRef {
        try await storeEncoded(page)
    }

    private func storeEncoded(_ value: some Encodable) async throws -> ChunkRef {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let bytes = Array(try encoder.encode(value))
        return try await transfer.upload(bytes, hash: ContentHash(chunk: bytes), dataShards: SnapshotRoot.manifestCode.dataShards,
                                         parityShards: SnapshotRoot.manifestCode.parityShards)
    }

    func page(_ chunk: ChunkRef) async throws -> ManifestPage {
        let bytes = try await transfer.download(chunk)
        do {
            return try JSONDecoder().decode(ManifestPage.self, from: Data(bytes))
        } catch {
            throw BackupError.corruptObject("the snapshot page \(chunk.hash.prefix(16)) does not parse")
        }
    }

    /// Calls `body` with each page of `manifest`, in order, while the next
    /// page is fetched: one page in memory at a time, and one on its way.
    ///
    /// - Parameter unreadable: what to do with a page that cannot be fetched
    ///   (its number and why); by default the error stops the walk. Work
    ///   that must see every page (forget) keeps the default.
    func forEachPage(of manifest: Manifest, unreadable: ((Int, Error) -> Void)? = nil,
                     _ body: (ManifestPage) async throws -> Void) async throws {
        if let inline = manifest.inlinePage { try await body(inline) }
        let pages = manifest.pages ?? []
        var next = pages.first.map { first in Task { try await page(first) } }
        defer { next?.cancel() }
        for index in pages.indices {
            let fetched = await next!.result
            next = index + 1 < pages.count ? Task { [pages] in try await page(pages[index + 1]) } : nil
            switch fetched {
            case let .success(current):
                try await body(current)
            case let .failure(error):
                guard let unreadable else { throw error }
                unreadable(index, error)
            }
        }
    }

    /// Points the signed root at `chunk` in place of `base` (nil: there was
    /// none), with the next sequence number. Nodes holding another version
    /// refuse it (BEP 44 `cas`), and the root is read back: if another run
    /// published meanwhile, or `base` came from a lookup that missed the
    /// newest root, this throws instead of hiding either snapshot.
    func point(to chunk: ChunkRef, replacing base: Root?) async throws {
        let sequence = (base?.sequence ?? 0) + 1
        let item = StoredItem(value: try SnapshotRoot.encode(chunk), signedBy: keys.snapshotKey,
                              salt: SnapshotRoot.salt, sequence: sequence)
        do {
            _ = try await network.dht.put(item, cas: base?.sequence)
        } catch {
            throw BackupError.uploadFailed("the snapshot is stored but its root could not be published in the DHT (\(error))")
        }
        // Every version the nodes hold, not only the one a lookup would pick:
        // another root at our sequence number is as much a conflict as a later one.
        let standing = await network.dht.versions(SnapshotRoot.target(for: keys), salt: SnapshotRoot.salt)
        for item in standing {
            guard let mutable = item.mutable, mutable.publicKey == keys.snapshotKey.publicKey, mutable.sequence >= sequence,
                  let other = SnapshotRoot.decode(item.value), other.hash != chunk.hash else { continue }
            throw BackupError.uploadFailed("the snapshot \(Self.id(of: chunk)) is stored, but the DHT also names snapshot "
                                           + "\(Self.id(of: other)) (version \(mutable.sequence)): another flud run published "
                                           + "meanwhile, or the first lookup missed it; run this again")
        }
    }

    /// Every snapshot's manifest with its reference, newest first.
    func chain() async throws -> [(manifest: Manifest, reference: ChunkRef)] {
        try await chain(from: latestReference())
    }

    /// The snapshots from `newest` back, newest first.
    func chain(from newest: ChunkRef?) async throws -> [(manifest: Manifest, reference: ChunkRef)] {
        var chain: [(Manifest, ChunkRef)] = []
        var next = newest
        while let chunk = next, chain.count < 10_000 {
            let manifest = try await manifest(chunk)
            chain.append((manifest, chunk))
            next = manifest.previous
        }
        return chain
    }

    /// Every snapshot, newest first.
    func list() async throws -> [SnapshotSummary] {
        try await chain().map { manifest, chunk in
            let files = (manifest.entries ?? []).filter { $0.kind == .file }
            return SnapshotSummary(id: Self.id(of: chunk), created: manifest.created, roots: manifest.roots,
                                   files: manifest.files ?? files.count, bytes: manifest.bytes ?? files.reduce(0) { $0 + $1.size })
        }
    }

    static func id(of chunk: ChunkRef) -> String { String(chunk.hash.prefix(16)) }
}

/// Every snapshot of the user whose `keys` these are, newest first.
public func snapshots(keys: UserKeys, network: FragmentNetwork) async throws -> [SnapshotSummary] {
    let transfer = ObjectTransfer(network: network, codec: ObjectCodec(cipher: keys.cipher))
    return try await SnapshotLog(keys: keys, network: network, transfer: transfer).list()
}

/// A snapshot's every entry and pack in memory at once: for tests,
/// benchmarks and small snapshots (backup and restore read a page at a time).
public func contents(of manifest: Manifest, keys: UserKeys, network: FragmentNetwork) async throws -> ManifestPage {
    let transfer = ObjectTransfer(network: network, codec: ObjectCodec(cipher: keys.cipher))
    var all = ManifestPage()
    try await SnapshotLog(keys: keys, network: network, transfer: transfer).forEachPage(of: manifest) { all.append($0) }
    return all
}
