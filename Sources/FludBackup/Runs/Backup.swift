import FludCodec
import FludDHT
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One `flud backup`: walk the paths, cut changed files into content-defined
/// chunks, upload the chunks not already stored, publish the snapshot.
public struct Backup: Sendable {
    public struct Options: Sendable {
        public var paths: [String]
        public var dataShards = 20
        public var parityShards = 20
        public var averageChunkSize = 1 << 20
        /// Glob patterns (fnmatch) matched against each path and its last component.
        public var excludes: [String] = []
        /// Chunks in flight at once.
        public var parallelChunks = 16

        public init(paths: [String], dataShards: Int = 20, parityShards: Int = 20, averageChunkSize: Int = 1 << 20) {
            self.paths = paths
            self.dataShards = dataShards
            self.parityShards = parityShards
            self.averageChunkSize = averageChunkSize
        }
    }

    public struct Progress: Sendable {
        public var filesDone = 0
        public var filesTotal = 0
        public var bytesDone = 0
        public var bytesTotal = 0
        public var chunksUploaded = 0
        public var chunksReused = 0
        public var bytesUploaded = 0
    }

    public struct Summary: Sendable {
        public var snapshot: String
        /// What was published.
        public var manifest: Manifest
        public var progress: Progress
        /// Paths that could not be read, with why; the backup went on without them.
        public var skipped: [(path: String, reason: String)]
        /// Fragments of reused chunks whose leases were renewed, and those whose holder could not renew.
        public var leasesRenewed = 0
        public var leasesFailed = 0
    }

    let keys: UserKeys
    let network: FragmentNetwork
    let home: String
    let options: Options

    public init(keys: UserKeys, network: FragmentNetwork, home: String, options: Options) {
        self.keys = keys
        self.network = network
        self.home = home
        self.options = options
    }

    public func run(report: @escaping @Sendable (Progress) -> Void) async throws -> Summary {
        let index = try LocalIndex(home: home)
        defer { index.close() }
        let transfer = ObjectTransfer(network: network, codec: ObjectCodec(cipher: keys.cipher))
        let snapshots = SnapshotLog(keys: keys, network: network, transfer: transfer)
        var previous = index.latestManifest
        if previous == nil { previous = try await snapshots.latest()?.manifest }
        let previousEntries = Dictionary((previous?.entries ?? []).map { ($0.path, $0) }, uniquingKeysWith: { $1 })
        let previousPacks = Dictionary((previous?.packs ?? []).map { ($0.hash, $0) }, uniquingKeysWith: { $1 })

        var skipped: [(String, String)] = []
        var walked: [Manifest.Entry] = []
        for path in options.paths {
            let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
            walk(absolute, into: &walked, skipped: &skipped)
        }
        var progress = Progress()
        progress.filesTotal = walked.filter { $0.kind == .file }.count
        progress.bytesTotal = walked.filter { $0.kind == .file }.reduce(0) { $0 + $1.size }
        report(progress)

        // Chunks of many files are in flight together (small files would
        // otherwise go one round trip at a time); each entry collects its
        // chunks by slot as they land.
        var entries = walked
        var skippedEntries = Set<Int>()
        var chunkSlots: [Int: [ChunkRef?]] = [:]
        var pendingChunks: [Int: Int] = [:]
        var readDone = Set<Int>()
        // Chunks this backup did not upload: their leases may be due for renewal.
        var reused: [ChunkRef] = []
        // Files smaller than a chunk go into packs of about a chunk, back to
        // back: one pack's 40 fragments instead of 40 per file, and one
        // manifest reference. A packed file's place is known once its pack
        // (numbered in this run) has landed.
        var openPack: [UInt8] = []
        var openPackFiles: [(offset: Int, hash: String)] = []
        var packsClosed = 0
        var landedPacks: [Int: ChunkRef] = [:]
        var packedEntries: [(entry: Int, pack: Int, offset: Int, hash: String)] = []
        var packedThisRun: [String: (pack: Int, offset: Int)] = [:]
        var packsUsed: [String: ChunkRef] = [:]
        let window = options.parallelChunks
        let (k, m) = (options.dataShards, options.parityShards)
        try await withThrowingTaskGroup(of: ChunkLanding.self) { group in
            var inFlight = 0
            func fileFinished(_ entryIndex: Int) {
                progress.filesDone += 1
                progress.bytesDone += entries[entryIndex].size
                report(progress)
            }
            func collect() async throws {
                guard let landing = try await group.next() else { return }
                inFlight -= 1
                if landing.uploaded {
                    progress.chunksUploaded += 1
                    progress.bytesUploaded += landing.chunk.length
                } else {
                    progress.chunksReused += 1
                    reused.append(landing.chunk)
                }
                switch landing.target {
                case let .pack(number):
                    landedPacks[number] = landing.chunk
                    report(progress)
                case let .slot(entry, slot):
                    chunkSlots[entry]![slot] = landing.chunk
                    pendingChunks[entry]! -= 1
                    if pendingChunks[entry] == 0, readDone.contains(entry), !skippedEntries.contains(entry) {
                        fileFinished(entry)
                    } else {
                        report(progress)
                    }
                }
            }
            /// Uploads `chunk` unless the index knows it; a pack's files are
            /// remembered with it, so a resumed backup finds them.
            func submit(_ chunk: [UInt8], to target: ChunkLanding.Target, packing files: [(offset: Int, hash: String)] = []) async throws {
                while inFlight >= window { try await collect() }
                inFlight += 1
                group.addTask {
                    let hash = ContentHash(of: chunk)
                    if let known = index.chunk(hash.hex) {
                        return ChunkLanding(target: target, chunk: known, uploaded: false)
                    }
                    let uploaded = try await transfer.upload(chunk, hash: hash, dataShards: k, parityShards: m)
                    // Remembered by the uploading task, so concurrent uploads share one index commit.
                    let now = UInt64(Date().timeIntervalSince1970)
                    if files.isEmpty {
                        try await index.remember(uploaded, storedAt: now)
                    } else {
                        let packed = files.map { Manifest.PackedFile(pack: hash.hex, offset: $0.offset, hash: $0.hash) }
                        try await index.remember(pack: uploaded, files: packed, storedAt: now)
                    }
                    return ChunkLanding(target: target, chunk: uploaded, uploaded: true)
                }
            }
            func closePack() async throws {
                guard !openPack.isEmpty else { return }
                let (bytes, files) = (openPack, openPackFiles)
                (openPack, openPackFiles) = ([], [])
                packsClosed += 1
                try await submit(bytes, to: .pack(packsClosed - 1), packing: files)
            }
            func reusePack(_ file: Manifest.PackedFile, in pack: ChunkRef, for entryIndex: Int) {
                entries[entryIndex].packed = file
                if packsUsed.updateValue(pack, forKey: pack.hash) == nil {
                    progress.chunksReused += 1
                    reused.append(pack)
                }
                fileFinished(entryIndex)
            }
            for (entryIndex, entry) in walked.enumerated() where entry.kind == .file {
                if let old = previousEntries[entry.path], old.kind == .file, old.size == entry.size,
                   old.modified == entry.modified, old.inode == entry.inode, old.device == entry.device {
                    if let chunks = old.chunks {
                        entries[entryIndex].chunks = chunks
                        progress.chunksReused += chunks.count
                        reused += chunks
                        fileFinished(entryIndex)
                        continue
                    }
                    if let file = old.packed, let pack = previousPacks[file.pack] {
                        reusePack(file, in: pack, for: entryIndex)
                        continue
                    }
                }
                if entry.size > 0, entry.size < options.averageChunkSize {
                    let small: [UInt8]?
                    do {
                        small = try readWhole(entry.path, expectedSize: entry.size)
                    } catch let error as FileReadError {
                        skipped.append((entry.path, error.reason))
                        skippedEntries.insert(entryIndex)
                        continue
                    }
                    if let small {
                        entries[entryIndex].size = small.count
                        let hash = ContentHash(of: small).hex
                        if let place = packedThisRun[hash] {
                            packedEntries.append((entryIndex, place.pack, place.offset, hash))
                        } else if let (file, pack) = index.packedFile(hash) {
                            reusePack(file, in: pack, for: entryIndex)
                            continue
                        } else {
                            packedThisRun[hash] = (packsClosed, openPack.count)
                            packedEntries.append((entryIndex, packsClosed, openPack.count, hash))
                            openPackFiles.append((openPack.count, hash))
                            openPack += small
                        }
                        fileFinished(entryIndex)
                        if openPack.count >= options.averageChunkSize { try await closePack() }
                        continue
                    }
                }
                chunkSlots[entryIndex] = []
                pendingChunks[entryIndex] = 0
                do {
                    try await readChunks(of: entry.path) { chunk in
                        let slot = chunkSlots[entryIndex]!.count
                        chunkSlots[entryIndex]!.append(nil)
                        pendingChunks[entryIndex]! += 1
                        try await submit(chunk, to: .slot(entry: entryIndex, slot: slot))
                    }
                } catch let error as FileReadError {
                    skipped.append((entry.path, error.reason))
                    skippedEntries.insert(entryIndex)
                    continue
                }
                readDone.insert(entryIndex)
                if pendingChunks[entryIndex] == 0 { fileFinished(entryIndex) }
            }
            try await closePack()
            while inFlight > 0 { try await collect() }
        }
        for (entryIndex, slots) in chunkSlots where !skippedEntries.contains(entryIndex) {
            entries[entryIndex].chunks = slots.map { $0! }
        }
        for packed in packedEntries {
            let pack = landedPacks[packed.pack]!
            entries[packed.entry].packed = Manifest.PackedFile(pack: pack.hash, offset: packed.offset, hash: packed.hash)
            packsUsed[pack.hash] = pack
        }
        entries = entries.enumerated().filter { !skippedEntries.contains($0.offset) }.map(\.element)
        let manifest = Manifest(created: Date().timeIntervalSince1970,
                                roots: options.paths.map { URL(fileURLWithPath: $0).standardizedFileURL.path },
                                entries: entries, packs: packsUsed.isEmpty ? nil : packsUsed.values.sorted { $0.hash < $1.hash },
                                previous: try await snapshots.latestReference())
        let leases = try await Leases(network: network, index: index).renewDue(reused)
        let reference = try await snapshots.store(manifest)
        try await snapshots.point(to: reference)
        try await index.markRenewed([reference.hash], at: UInt64(Date().timeIntervalSince1970))
        let id = SnapshotLog.id(of: reference)
        try await index.setLatest(manifest)
        return Summary(snapshot: id, manifest: manifest, progress: progress, skipped: skipped,
                       leasesRenewed: leases.renewed, leasesFailed: leases.failed)
    }

    private struct FileReadError: Error {
        let reason: String
    }

    /// A chunk's upload (or recognition as already stored), for one file's
    /// slot or as a pack.
    private struct ChunkLanding: Sendable {
        enum Target: Sendable {
            case slot(entry: Int, slot: Int)
            case pack(Int)
        }
        let target: Target
        let chunk: ChunkRef
        let uploaded: Bool
    }

    /// The whole of a small file, or nil if it holds more than the
    /// `expectedSize` bytes it had when walked (it grew: it is then read as
    /// chunks, so a file that grew large is never read whole).
    private func readWhole(_ path: String, expectedSize: Int) throws -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileReadError(reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        let capacity = expectedSize + 1
        let bytes = try [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
            while count < capacity {
                let read = Glibc.read(descriptor, buffer.baseAddress! + count, capacity - count)
                if read < 0 {
                    if errno == EINTR { continue }
                    throw FileReadError(reason: String(cString: strerror(errno)))
                }
                if read == 0 { break }
                count += read
            }
        }
        return bytes.count < capacity ? bytes : nil
    }

    /// Reads `path` and hands each content-defined chunk to `body`, in order;
    /// at most a few chunks' worth of the file is in memory at once.
    private func readChunks(of path: String, _ body: ([UInt8]) async throws -> Void) async throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileReadError(reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        let chunker = ContentDefinedChunker(averageSize: options.averageChunkSize)
        // Reads land in one uninitialized buffer (no zero-filling per read);
        // `buffer` holds at least one maximal chunk until the end of the file,
        // and what was handed out is dropped once per read, not once per chunk.
        let piece = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 64)
        defer { piece.deallocate() }
        var buffer: [UInt8] = []
        var start = 0
        var atEnd = false
        while true {
            while !atEnd && buffer.count - start < chunker.maximumSize {
                let count = read(descriptor, piece.baseAddress, piece.count)
                if count < 0 {
                    if errno == EINTR { continue }
                    throw FileReadError(reason: String(cString: strerror(errno)))
                }
                if count == 0 {
                    atEnd = true
                } else {
                    if start > 0 {
                        buffer.removeFirst(start)
                        start = 0
                    }
                    buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: piece[..<count]))
                }
            }
            guard buffer.count > start else { return }
            let length = buffer.withUnsafeBytes { chunker.chunkLength(in: UnsafeRawBufferPointer(rebasing: $0[start...]), isEnd: atEnd) }
            let chunk = Array(buffer[start..<start + length])
            start += length
            try await body(chunk)
        }
    }

    /// Appends `path` and, for a directory, everything under it (sorted), as
    /// entries without chunks; what cannot be read is noted in `skipped`.
    private func walk(_ path: String, into entries: inout [Manifest.Entry], skipped: inout [(String, String)]) {
        guard !isExcluded(path) else { return }
        var info = stat()
        guard lstat(path, &info) == 0 else {
            skipped.append((path, String(cString: strerror(errno))))
            return
        }
        let modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        var entry = Manifest.Entry(path: path, kind: .file, mode: UInt32(info.st_mode & 0o7777), modified: modified,
                                   size: Int(info.st_size), inode: UInt64(info.st_ino), device: UInt64(info.st_dev))
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            entries.append(entry)
        case S_IFLNK:
            var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlink(path, &target, target.count - 1)
            guard count >= 0 else {
                skipped.append((path, String(cString: strerror(errno))))
                return
            }
            entry.kind = .symlink
            entry.size = 0
            entry.target = String(decoding: target.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            entries.append(entry)
        case S_IFDIR:
            entry.kind = .directory
            entry.size = 0
            entries.append(entry)
            guard let children = try? FileManager.default.contentsOfDirectory(atPath: path) else {
                skipped.append((path, "cannot list the directory"))
                return
            }
            for child in children.sorted() { walk(path == "/" ? "/" + child : path + "/" + child, into: &entries, skipped: &skipped) }
        default:
            skipped.append((path, "not a regular file, directory or symlink"))
        }
    }

    private func isExcluded(_ path: String) -> Bool {
        let name = (path as NSString).lastPathComponent
        return options.excludes.contains { fnmatch($0, path, 0) == 0 || fnmatch($0, name, 0) == 0 }
    }
}
