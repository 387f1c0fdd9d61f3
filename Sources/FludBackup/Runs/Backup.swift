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
        /// A manifest page is stored once it holds this many entries, or
        /// entries with this many chunk references (about 4 KiB each).
        public var pageEntries = 4096
        public var pageChunkReferences = 256

        public init(paths: [String], dataShards: Int = 20, parityShards: Int = 20, averageChunkSize: Int = 1 << 20) {
            self.paths = paths
            self.dataShards = dataShards
            self.parityShards = parityShards
            self.averageChunkSize = averageChunkSize
        }
    }

    public struct Progress: Sendable {
        /// Files whose bytes are stored (uploaded now, or found stored), and their bytes.
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
        let leases = Leases(network: network, index: index)
        // Stored chunks are reused only while their leases run (see `liveChunk`).
        let started = UInt64(Date().timeIntervalSince1970)
        // A new machine (or a lost index) starts from the published snapshot.
        if !index.hasPreviousEntries, let (latest, _) = try await snapshots.latest() {
            try await index.importEntries(of: latest, from: snapshots)
        }
        let roots = options.paths.map { URL(fileURLWithPath: $0).standardizedFileURL.path }

        // A first walk only counts, for progress; the second does the work.
        var progress = Progress()
        var ignored: [(String, String)] = []
        for root in roots {
            try await walk(root, skipped: &ignored) { entry in
                guard entry.kind == .file else { return }
                progress.filesTotal += 1
                progress.bytesTotal += entry.size
            }
        }
        report(progress)
        try await index.startRecordingEntries()

        // Entries wait in walk order until their chunks have landed, then go
        // into the current page; a page full enough is stored and its entries
        // recorded in the index. So memory holds the entries of a few chunks
        // in flight and one page, however many files there are.
        var skipped: [(String, String)] = []
        var unreadable: [(String, String)] = []
        var pending = PendingEntries()
        var page = ManifestPage()
        var pagePacks = Set<String>()
        var pageChunkReferences = 0
        var pages: [ChunkRef] = []
        var (files, bytes) = (0, 0)
        var renewals = Leases.Outcome()
        // Files smaller than a chunk go into packs of about a chunk, back to
        // back: one pack's 40 fragments instead of 40 per file. Packs are
        // numbered in this run; a packed file is done once its pack landed.
        var openPack: [UInt8] = []
        var openPackFiles: [(offset: Int, hash: String)] = []
        var packsClosed = 0
        var landedPacks: [Int: ChunkRef] = [:]
        // Files in packs of this run that have not landed, by hash (once a
        // pack lands, equal files find it in the index).
        var packedThisRun: [String: (pack: Int, offset: Int)] = [:]
        // Per pack, its files still waiting to go into a page (counted done once it lands).
        var packMembers: [Int: PackMembers] = [:]
        var reusedPacks = Set<String>()
        // Packs met again (files of a pack come together): decoded once, not per file.
        var knownPacks: [String: ChunkRef] = [:]
        func storedPack(_ hash: String) -> ChunkRef? {
            if let pack = knownPacks[hash] { return pack }
            guard let pack = index.liveChunk(hash, at: started) else { return nil }
            if knownPacks.count >= 256 { knownPacks.removeAll(keepingCapacity: true) }
            knownPacks[hash] = pack
            return pack
        }
        let window = options.parallelChunks
        let (k, m) = (options.dataShards, options.parityShards)

        func storePage() async throws {
            guard !page.entries.isEmpty else { return }
            let reference = try await snapshots.store(page)
            pages.append(reference)
            try await index.record(page.entries)
            let renewed = try await leases.renewDue(page.storedChunks)
            renewals.renewed += renewed.renewed
            renewals.failed += renewed.failed
            try await index.markRenewed([reference.hash], at: UInt64(Date().timeIntervalSince1970))
            (page, pagePacks, pageChunkReferences) = (ManifestPage(), [], 0)
        }
        func addToPage(_ entry: Manifest.Entry, pack: ChunkRef?) async throws {
            page.entries.append(entry)
            pageChunkReferences += entry.chunks?.count ?? 0
            if let pack, pagePacks.insert(pack.hash).inserted {
                page.packs.append(pack)
                pageChunkReferences += 1
            }
            if entry.kind == .file {
                files += 1
                bytes += entry.size
            }
            if page.entries.count >= options.pageEntries || pageChunkReferences >= options.pageChunkReferences {
                try await storePage()
            }
        }
        /// Moves the entries at the head of the queue that are done into the page.
        func drain() async throws {
            while let head = pending.head {
                switch head.state {
                case .skipped:
                    break
                case .ready(let pack):
                    try await addToPage(head.entry, pack: pack)
                case .chunks(let slots, let waiting, let readDone):
                    guard waiting == 0, readDone else { return }
                    var entry = head.entry
                    entry.chunks = slots.map { $0! }
                    try await addToPage(entry, pack: nil)
                case .packed(let number, let offset, let hash):
                    guard let pack = landedPacks[number] else { return }
                    var entry = head.entry
                    entry.packed = Manifest.PackedFile(pack: pack.hash, offset: offset, hash: hash)
                    packMembers[number]!.waiting -= 1
                    if packMembers[number]!.waiting == 0 {
                        packMembers[number] = nil
                        landedPacks[number] = nil
                    }
                    try await addToPage(entry, pack: pack)
                }
                pending.removeHead()
            }
        }

        try await withThrowingTaskGroup(of: ChunkLanding.self) { group in
            var inFlight = 0
            func fileFinished(_ size: Int) {
                progress.filesDone += 1
                progress.bytesDone += size
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
                }
                switch landing.target {
                case let .pack(number):
                    landedPacks[number] = landing.chunk
                    progress.filesDone += packMembers[number]?.waiting ?? 0
                    progress.bytesDone += packMembers[number]?.bytes ?? 0
                    packedThisRun = packedThisRun.filter { $0.value.pack != number }
                    report(progress)
                case let .slot(sequence, slot):
                    // (A file that failed midway may have left the queue already.)
                    guard pending.holds(sequence),
                          case .chunks(var slots, let waiting, let readDone) = pending[sequence].state else { return }
                    slots[slot] = landing.chunk
                    pending[sequence].state = .chunks(slots: slots, waiting: waiting - 1, readDone: readDone)
                    if waiting == 1, readDone { fileFinished(pending[sequence].entry.size) } else { report(progress) }
                }
                try await drain()
            }
            /// Uploads `chunk` unless the index knows it and its leases run
            /// (or its holders renew them now); a pack's files are remembered
            /// with it, so a resumed backup finds them.
            func submit(_ chunk: [UInt8], to target: ChunkLanding.Target, packing files: [(offset: Int, hash: String)] = []) async throws {
                while inFlight >= window { try await collect() }
                inFlight += 1
                group.addTask {
                    let hash = ContentHash(chunk: chunk)
                    if let known = index.chunk(hash.hex) {
                        var usable = index.leasesRun(on: known.hash, at: started)
                        if !usable { usable = try await leases.renewDue([known]).failed == 0 }
                        if usable { return ChunkLanding(target: target, chunk: known, uploaded: false) }
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
            /// A file whose bytes are stored already: in a pack, or as chunks.
            func reuse(_ entry: Manifest.Entry, pack: ChunkRef?) {
                if let pack {
                    if reusedPacks.insert(pack.hash).inserted { progress.chunksReused += 1 }
                } else {
                    progress.chunksReused += entry.chunks?.count ?? 0
                }
                pending.append(entry, .ready(pack: pack))
                fileFinished(entry.size)
            }
            func back(_ walked: Manifest.Entry) async throws {
                // Entries behind one that waits stay in memory: past a page's
                // worth, the walk waits for what the head waits for.
                while pending.count >= options.pageEntries {
                    if case .packed(let pack, _, _)? = pending.head?.state, pack == packsClosed { try await closePack() }
                    guard inFlight > 0 else { break }
                    try await collect()
                }
                guard walked.kind == .file else {
                    pending.append(walked, .ready(pack: nil))
                    return try await drain()
                }
                var entry = walked
                if let old = index.previousEntry(entry.path), old.kind == .file, old.size == entry.size,
                   old.modified == entry.modified, old.inode == entry.inode, old.device == entry.device {
                    // Where the chunks are now (a repair may have moved fragments).
                    if let chunks = old.chunks?.map({ index.liveChunk($0.hash, at: started) }), !chunks.contains(where: { $0 == nil }) {
                        entry.chunks = chunks.map { $0! }
                        return reuse(entry, pack: nil)
                    }
                    if let file = old.packed, let pack = storedPack(file.pack) {
                        entry.packed = file
                        return reuse(entry, pack: pack)
                    }
                }
                if entry.size > 0, entry.size < options.averageChunkSize {
                    let small: [UInt8]?
                    do {
                        small = try readWhole(entry.path, expectedSize: entry.size)
                    } catch let error as FileReadError {
                        return unreadable.append((entry.path, error.reason))
                    }
                    if let small {
                        entry.size = small.count
                        let hash = ContentHash(chunk: small).hex
                        if let place = packedThisRun[hash] {
                            packMembers[place.pack, default: PackMembers()].add(entry.size)
                            pending.append(entry, .packed(pack: place.pack, offset: place.offset, hash: hash))
                        } else if let file = index.packedFile(hash), let pack = storedPack(file.pack) {
                            entry.packed = file
                            return reuse(entry, pack: pack)
                        } else {
                            packedThisRun[hash] = (packsClosed, openPack.count)
                            packMembers[packsClosed, default: PackMembers()].add(entry.size)
                            pending.append(entry, .packed(pack: packsClosed, offset: openPack.count, hash: hash))
                            openPackFiles.append((openPack.count, hash))
                            openPack += small
                        }
                        if openPack.count >= options.averageChunkSize || openPackFiles.count >= Self.filesPerPack {
                            try await closePack()
                        }
                        return
                    }
                }
                // A file read as chunks could keep many entries waiting behind
                // one small file in the open pack: that pack goes now.
                if case .packed(let pack, _, _)? = pending.head?.state, pack == packsClosed { try await closePack() }
                let sequence = pending.append(entry, .chunks(slots: [], waiting: 0, readDone: false))
                do {
                    try await readChunks(of: entry.path) { chunk in
                        guard case .chunks(var slots, let waiting, _) = pending[sequence].state else { return }
                        slots.append(nil)
                        pending[sequence].state = .chunks(slots: slots, waiting: waiting + 1, readDone: false)
                        try await submit(chunk, to: .slot(entry: sequence, slot: slots.count - 1))
                    }
                } catch let error as FileReadError {
                    unreadable.append((entry.path, error.reason))
                    pending[sequence].state = .skipped
                    return try await drain()
                }
                guard case .chunks(let slots, let waiting, _) = pending[sequence].state else { return }
                pending[sequence].state = .chunks(slots: slots, waiting: waiting, readDone: true)
                if waiting == 0 { fileFinished(entry.size) }
                try await drain()
            }
            for root in roots { try await walk(root, skipped: &skipped, visit: back) }
            skipped += unreadable
            try await closePack()
            while inFlight > 0 { try await collect() }
        }
        try await drain()
        try await storePage()
        let base = await snapshots.root()
        let manifest = Manifest(created: Date().timeIntervalSince1970, roots: roots, files: files, bytes: bytes, pages: pages,
                                previous: base?.chunk)
        let reference = try await snapshots.store(manifest)
        try await snapshots.point(to: reference, replacing: base)
        try await index.markRenewed([reference.hash], at: UInt64(Date().timeIntervalSince1970))
        try await index.finishRecordingEntries()
        return Summary(snapshot: SnapshotLog.id(of: reference), manifest: manifest, progress: progress, skipped: skipped,
                       leasesRenewed: renewals.renewed, leasesFailed: renewals.failed)
    }

    /// A pack closes at this many files even if smaller than a chunk: its
    /// files wait in memory until it has landed.
    static let filesPerPack = 1024

    /// A pack's files still waiting to go into a page, and their bytes.
    private struct PackMembers {
        var waiting = 0
        var bytes = 0

        mutating func add(_ size: Int) {
            waiting += 1
            bytes += size
        }
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

    /// Entries in walk order, from the first not yet in a page, each with
    /// what it waits for; addressed by a sequence number that stays valid as
    /// the head moves on.
    private struct PendingEntries {
        enum State {
            /// Done; a packed file found already stored names its pack.
            case ready(pack: ChunkRef?)
            /// Left out (the file could not be read).
            case skipped
            /// A file's chunks by slot, how many are still in flight, and
            /// whether the whole file has been read.
            case chunks(slots: [ChunkRef?], waiting: Int, readDone: Bool)
            /// A small file in a pack of this run, not yet landed.
            case packed(pack: Int, offset: Int, hash: String)
        }
        struct Pending {
            var entry: Manifest.Entry
            var state: State
        }
        private var items: [Pending] = []
        private var first = 0
        private var removed = 0

        var head: Pending? { first < items.count ? items[first] : nil }
        /// Entries still waiting.
        var count: Int { items.count - first }

        /// Whether the entry with this sequence number is still waiting.
        func holds(_ sequence: Int) -> Bool { sequence >= removed && sequence - removed + first < items.count }

        @discardableResult
        mutating func append(_ entry: Manifest.Entry, _ state: State) -> Int {
            items.append(Pending(entry: entry, state: state))
            return removed + items.count - 1 - first
        }

        mutating func removeHead() {
            first += 1
            removed += 1
            // Drops what is behind the head now and then, not on every step.
            if first >= 1024, first * 2 >= items.count {
                items.removeFirst(first)
                first = 0
            }
        }

        subscript(sequence: Int) -> Pending {
            get { items[sequence - removed + first] }
            set { items[sequence - removed + first] = newValue }
        }
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

    /// Visits `path` and, for a directory, everything under it (sorted), as
    /// entries without chunks; what cannot be read is noted in `skipped`.
    private func walk(_ path: String, skipped: inout [(String, String)],
                      visit: (Manifest.Entry) async throws -> Void) async throws {
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
            try await visit(entry)
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
            try await visit(entry)
        case S_IFDIR:
            entry.kind = .directory
            entry.size = 0
            try await visit(entry)
            guard let children = try? FileManager.default.contentsOfDirectory(atPath: path) else {
                skipped.append((path, "cannot list the directory"))
                return
            }
            for child in children.sorted() {
                try await walk(path == "/" ? "/" + child : path + "/" + child, skipped: &skipped, visit: visit)
            }
        default:
            skipped.append((path, "not a regular file, directory or symlink"))
        }
    }

    private func isExcluded(_ path: String) -> Bool {
        let name = (path as NSString).lastPathComponent
        return options.excludes.contains { fnmatch($0, path, 0) == 0 || fnmatch($0, name, 0) == 0 }
    }
}
