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
        public var parallelChunks = 4

        public init(paths: [String]) {
            self.paths = paths
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
        public var progress: Progress
        /// Paths that could not be read, with why; the backup went on without them.
        public var skipped: [(path: String, reason: String)]
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
        let previous = try await index.latestManifest.asyncOr { try await snapshots.latest()?.manifest }
        let previousEntries = Dictionary((previous?.entries ?? []).map { ($0.path, $0) }, uniquingKeysWith: { $1 })

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

        var entries: [Manifest.Entry] = []
        for var entry in walked {
            if entry.kind == .file {
                if let old = previousEntries[entry.path], old.kind == .file, old.size == entry.size,
                   old.modified == entry.modified, old.inode == entry.inode, old.device == entry.device, let chunks = old.chunks {
                    entry.chunks = chunks
                    progress.chunksReused += chunks.count
                } else {
                    do {
                        entry.chunks = try await backUpFile(entry.path, index: index, transfer: transfer, progress: &progress, report: report)
                    } catch let error as FileReadError {
                        skipped.append((entry.path, error.reason))
                        continue
                    }
                }
                progress.filesDone += 1
                progress.bytesDone += entry.size
                report(progress)
            }
            entries.append(entry)
        }
        let manifest = Manifest(created: Date().timeIntervalSince1970,
                                roots: options.paths.map { URL(fileURLWithPath: $0).standardizedFileURL.path },
                                entries: entries, previous: try await snapshots.latestReference())
        let id = try await snapshots.publish(manifest)
        try await index.setLatest(manifest)
        return Summary(snapshot: id, progress: progress, skipped: skipped)
    }

    private struct FileReadError: Error {
        let reason: String
    }

    /// Reads, chunks and uploads one file; chunks already stored are reused.
    private func backUpFile(_ path: String, index: LocalIndex, transfer: ObjectTransfer, progress: inout Progress,
                            report: @Sendable (Progress) -> Void) async throws -> [ChunkRef] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileReadError(reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        let chunker = ContentDefinedChunker(averageSize: options.averageChunkSize)
        var buffer: [UInt8] = []
        var atEnd = false
        var refs: [ChunkRef] = []
        let (k, m) = (options.dataShards, options.parityShards)
        try await withThrowingTaskGroup(of: (Int, ChunkRef, Bool).self) { group in
            var slots: [ChunkRef?] = []
            var inFlight = 0
            func collect() async throws {
                guard let (slot, ref, uploaded) = try await group.next() else { return }
                slots[slot] = ref
                inFlight -= 1
                if uploaded {
                    progress.chunksUploaded += 1
                    progress.bytesUploaded += ref.length
                    try await index.remember(ref)
                } else {
                    progress.chunksReused += 1
                }
                report(progress)
            }
            while true {
                // Keep at least one maximal chunk buffered until the end of the file.
                while !atEnd && buffer.count < chunker.maximumSize {
                    var piece = [UInt8](repeating: 0, count: 4 << 20)
                    let count = piece.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                    if count < 0 {
                        if errno == EINTR { continue }
                        throw FileReadError(reason: String(cString: strerror(errno)))
                    }
                    if count == 0 { atEnd = true } else { buffer += piece.prefix(count) }
                }
                guard !buffer.isEmpty else { break }
                let length = buffer.withUnsafeBytes { chunker.chunkLength(in: $0, isEnd: atEnd) }
                let chunk = Array(buffer.prefix(length))
                buffer.removeFirst(length)
                let slot = slots.count
                slots.append(nil)
                inFlight += 1
                group.addTask {
                    let hash = ContentHash(of: chunk)
                    if let known = index.chunk(hash.hex) { return (slot, known, false) }
                    return (slot, try await transfer.upload(chunk, hash: hash, dataShards: k, parityShards: m), true)
                }
                if inFlight >= options.parallelChunks { try await collect() }
            }
            while inFlight > 0 { try await collect() }
            refs = slots.map { $0! }
        }
        return refs
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

extension Optional {
    func asyncOr(_ fallback: () async throws -> Wrapped?) async rethrows -> Wrapped? {
        if let self { return self }
        return try await fallback()
    }
}
