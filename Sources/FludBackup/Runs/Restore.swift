import FludCodec
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One `flud restore`: a snapshot's files, fetched from any k fragments per
/// chunk, checked, written atomically under the target directory.
public struct Restore: Sendable {
    public struct Options: Sendable {
        /// Where the snapshot's absolute paths are re-rooted: /home/a/x → TARGET/home/a/x.
        public var target: String
        /// A snapshot ID (or a prefix of one); nil for the newest.
        public var snapshot: String?
        /// Restore only these paths (and what is under them).
        public var paths: [String] = []
        /// Replace existing files.
        public var force = false
        /// Chunks fetched at once beyond each file's first, shared by the
        /// files being restored: the last large file of a restore gets them
        /// all, rather than a fixed few while the cores wait.
        public var parallelChunks = 32
        /// Files restored at once.
        public var parallelFiles = 16

        public init(target: String) {
            self.target = target
        }
    }

    public struct Summary: Sendable {
        public var snapshot: String = ""
        public var files = 0
        public var bytes = 0
        public var directories = 0
        public var symlinks = 0
        /// Existing files left alone (no --force).
        public var existing: [String] = []
        /// Files that could not be restored, with why.
        public var failed: [(path: String, reason: String)] = []
    }

    let keys: UserKeys
    let network: FragmentNetwork
    let options: Options
    /// Restored files are synced in shared rounds, off the cooperative threads.
    private let syncs = FileSystemSyncs()
    let chunkBudget: ChunkBudget

    public init(keys: UserKeys, network: FragmentNetwork, options: Options) {
        self.keys = keys
        self.network = network
        self.options = options
        chunkBudget = ChunkBudget(options.parallelChunks)
    }

    public func run(report: @escaping @Sendable (Summary) -> Void) async throws -> Summary {
        let transfer = ObjectTransfer(network: network, codec: ObjectCodec(cipher: keys.cipher))
        let log = SnapshotLog(keys: keys, network: network, transfer: transfer)
        guard let (latest, reference) = try await log.latest() else { throw BackupError.noSnapshots }
        var (manifest, chunk) = (latest, reference)
        if let wanted = options.snapshot {
            while !SnapshotLog.id(of: chunk).hasPrefix(wanted) {
                guard let previous = manifest.previous else { throw BackupError.unknownSnapshot(wanted) }
                (manifest, chunk) = (try await log.manifest(previous), previous)
            }
        }
        var summary = Summary(snapshot: SnapshotLog.id(of: chunk))
        // A page of entries at a time; only the directories are kept to the
        // end, for their modes and times.
        var directories: [Manifest.Entry] = []
        // A page that cannot be fetched loses its entries (whose paths it
        // alone knows); the restore goes on with the others.
        let unreadable = { (page: Int, error: Error) in
            summary.failed.append(("(the entries of page \(page + 1) of \(manifest.pages?.count ?? 0))", "\(error)"))
        }
        try await log.forEachPage(of: manifest, unreadable: unreadable) { page in
            let selected = page.entries.filter(isSelected)
            for entry in selected where entry.kind == .directory {
                switch makeDirectory(target(of: entry.path)) {
                case .made:
                    summary.directories += 1
                    directories.append(entry)
                case .existed:
                    // Its mode and times are the user's now: only --force resets them.
                    if options.force { directories.append(entry) }
                case .failed(let reason):
                    summary.failed.append((entry.path, reason))
                }
            }
            try await restoreFiles(selected, packs: page.packs, transfer: transfer, into: &summary, report: report)
        }
        // Directory modes and times last, deepest first: writing into a
        // directory changes its time, and a read-only one would refuse files.
        for entry in directories.reversed() {
            setAttributes(of: entry, at: target(of: entry.path))
        }
        return summary
    }

    private func restoreFiles(_ selected: [Manifest.Entry], packs: [ChunkRef], transfer: ObjectTransfer,
                              into summary: inout Summary, report: @escaping @Sendable (Summary) -> Void) async throws {
        // Several files at once (each fetching a few chunks at once), so
        // small files do not go one round trip at a time; the packed ones
        // come a pack at a time, every file of a pack from one fetch.
        var byPack: [String: [Manifest.Entry]] = [:]
        var packOrder: [String] = []
        try await withThrowingTaskGroup(of: [(Manifest.Entry, Error?)].self) { group in
            var running = 0
            func finish() async throws {
                guard let outcomes = try await group.next() else { return }
                running -= 1
                for (entry, error) in outcomes {
                    if let error {
                        summary.failed.append((entry.path, "\(error)"))
                    } else if entry.kind == .symlink {
                        summary.symlinks += 1
                    } else {
                        summary.files += 1
                        summary.bytes += entry.size
                    }
                }
                report(summary)
            }
            func start(_ work: @escaping @Sendable () async -> [(Manifest.Entry, Error?)]) async throws {
                if running >= options.parallelFiles { try await finish() }
                running += 1
                group.addTask(operation: work)
            }
            for entry in selected where entry.kind != .directory {
                let destination = target(of: entry.path)
                _ = makeDirectory((destination as NSString).deletingLastPathComponent)
                var info = stat()
                if lstat(destination, &info) == 0, !options.force {
                    summary.existing.append(entry.path)
                    continue
                }
                if let packed = entry.packed {
                    if byPack[packed.pack] == nil { packOrder.append(packed.pack) }
                    byPack[packed.pack, default: []].append(entry)
                    continue
                }
                try await start {
                    do {
                        if entry.kind == .symlink {
                            try restoreSymlink(entry, at: destination)
                        } else {
                            try await restoreFile(entry, at: destination, transfer: transfer)
                        }
                        return [(entry, nil)]
                    } catch {
                        return [(entry, error)]
                    }
                }
            }
            let packs = Dictionary(packs.map { ($0.hash, $0) }, uniquingKeysWith: { $1 })
            for hash in packOrder {
                let files = byPack[hash]!
                try await start {
                    let bytes: [UInt8]
                    do {
                        guard let pack = packs[hash] else {
                            throw BackupError.corruptObject("the snapshot page does not list the pack \(hash.prefix(16))")
                        }
                        bytes = try await transfer.download(pack)
                    } catch {
                        return files.map { ($0, error) }
                    }
                    return await restorePacked(files, from: bytes)
                }
            }
            while running > 0 { try await finish() }
        }
    }

    private func isSelected(_ entry: Manifest.Entry) -> Bool {
        options.paths.isEmpty || options.paths.contains { path in
            let path = URL(fileURLWithPath: path).standardizedFileURL.path
            return entry.path == path || entry.path.hasPrefix(path.hasSuffix("/") ? path : path + "/")
                || path.hasPrefix(entry.path + "/")  // its parents, so the path can be re-rooted
        }
    }

    private func target(of path: String) -> String {
        (options.target as NSString).appendingPathComponent(path)
    }

    private enum DirectoryOutcome {
        case made, existed, failed(String)
    }

    /// Makes the directory (and any missing parents); says whether it was there.
    private func makeDirectory(_ path: String) -> DirectoryOutcome {
        var info = stat()
        if stat(path, &info) == 0 {
            return info.st_mode & S_IFMT == S_IFDIR ? .existed : .failed("\(path) exists and is not a directory")
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            return .made
        } catch {
            return .failed("cannot make the directory \(path): \(error.localizedDescription)")
        }
    }

    /// Fetches the chunks (a few at a time), writes a temporary file beside the
    /// destination and renames it into place only once every chunk checked out.
    private func restoreFile(_ entry: Manifest.Entry, at destination: String, transfer: ObjectTransfer) async throws {
        let chunks = entry.chunks ?? []
        try await writeAtomically(entry, at: destination) { descriptor in
            try await writeChunks(chunks, to: descriptor, path: destination, transfer: transfer)
        }
    }

    /// Packed files, cut from their pack (already checked as a whole) and
    /// checked against their own hashes. Each is written to a temporary file;
    /// one sync of the file system makes them all durable (not an fsync per
    /// small file), and only then is each renamed into place.
    private func restorePacked(_ files: [Manifest.Entry], from pack: [UInt8]) async -> [(Manifest.Entry, Error?)] {
        var outcomes: [(Manifest.Entry, Error?)] = []
        var written: [(entry: Manifest.Entry, temporary: String)] = []
        for entry in files {
            do {
                guard let packed = entry.packed, packed.offset >= 0, entry.size >= 0, packed.offset <= pack.count - entry.size,
                      ContentHash(hex: packed.hash)?.identifies(pack[packed.offset..<packed.offset + entry.size]) == true
                else {
                    throw BackupError.corruptObject("\(entry.path) does not match its place in pack \(entry.packed?.pack.prefix(16) ?? "?")")
                }
                let destination = target(of: entry.path)
                let temporary = try await writeTemporary(for: destination) { descriptor in
                    try writeAll(pack[packed.offset..<packed.offset + entry.size], to: descriptor, path: destination)
                }
                written.append((entry, temporary))
            } catch {
                outcomes.append((entry, error))
            }
        }
        let synced = await syncs.sync(Set(written.map { ($0.temporary as NSString).deletingLastPathComponent }))
        for (entry, temporary) in written {
            do {
                guard synced else {
                    throw BackupError.uploadFailed("cannot sync the file system under \(temporary)")
                }
                try moveIntoPlace(temporary, entry, at: target(of: entry.path))
                outcomes.append((entry, nil))
            } catch {
                unlink(temporary)
                outcomes.append((entry, error))
            }
        }
        return outcomes
    }

    /// Runs `write` on a temporary file beside `destination`, syncs it,
    /// renames it into place and sets the entry's mode and times; on any
    /// error the temporary file goes and `destination` is left as it was.
    private func writeAtomically(_ entry: Manifest.Entry, at destination: String,
                                 _ write: (Int32) async throws -> Void) async throws {
        let temporary = try await writeTemporary(for: destination, write)
        do {
            guard await syncs.sync([(temporary as NSString).deletingLastPathComponent]) else {
                throw BackupError.uploadFailed("cannot sync the file system under \(temporary)")
            }
            try moveIntoPlace(temporary, entry, at: destination)
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// A new temporary file beside `destination`, written by `write`; removed
    /// again if anything fails. Its name is short and unique (mkstemp), so a
    /// file whose own name is near the 255-byte limit restores too.
    private func writeTemporary(for destination: String, _ write: (Int32) async throws -> Void) async throws -> String {
        var template = Array(((destination as NSString).deletingLastPathComponent + "/.flud-restore-XXXXXX").utf8CString)
        let descriptor = mkstemp(&template)
        let temporary = String(cString: template)
        if descriptor >= 0 { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        guard descriptor >= 0 else { throw BackupError.uploadFailed("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        do {
            try await write(descriptor)
            close(descriptor)
            return temporary
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
    }

    /// Renames the file into place: with --force, over what is there, in one
    /// step (there is never a moment with neither file).
    private func moveIntoPlace(_ temporary: String, _ entry: Manifest.Entry, at destination: String) throws {
        guard rename(temporary, destination) == 0 else {
            throw BackupError.uploadFailed("cannot move the restored file to \(destination): \(String(cString: strerror(errno)))")
        }
        setAttributes(of: entry, at: destination)
    }

    /// Fetches the chunks (in parallel, as far as the shared budget allows)
    /// and writes them in order. Every chunk started and not yet written past
    /// the first holds one unit of the budget.
    private func writeChunks(_ chunks: [ChunkRef], to descriptor: Int32, path destination: String, transfer: ObjectTransfer) async throws {
        var next = 0
        var outstanding = 0
        defer { chunkBudget.giveBack(max(0, outstanding - 1)) }
        try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
            var pending: [Int: [UInt8]] = [:]
            var written = 0
            func startMore() {
                while next < chunks.count, outstanding == 0 || chunkBudget.take() {
                    let index = next
                    next += 1
                    outstanding += 1
                    group.addTask {
                        let bytes = try await transfer.download(chunks[index])
                        return (index, bytes)
                    }
                }
            }
            startMore()
            while let (index, bytes) = try await group.next() {
                pending[index] = bytes
                while let ready = pending.removeValue(forKey: written) {
                    try writeAll(ready[...], to: descriptor, path: destination)
                    written += 1
                    outstanding -= 1
                    if outstanding > 0 { chunkBudget.giveBack(1) }
                }
                startMore()
            }
        }
    }

    private func writeAll(_ bytes: ArraySlice<UInt8>, to descriptor: Int32, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { throw BackupError.uploadFailed("cannot write \(path): \(String(cString: strerror(errno)))") }
            offset += count
        }
    }

    private func restoreSymlink(_ entry: Manifest.Entry, at destination: String) throws {
        if options.force { unlink(destination) }
        guard symlink(entry.target ?? "", destination) == 0 else {
            throw BackupError.uploadFailed("cannot create the symlink \(destination): \(String(cString: strerror(errno)))")
        }
        var times = [Glibc.timespec](repeating: Self.time(entry.modified), count: 2)
        utimensat(AT_FDCWD, destination, &times, AT_SYMLINK_NOFOLLOW)
    }

    private func setAttributes(of entry: Manifest.Entry, at path: String) {
        chmod(path, mode_t(entry.mode))
        var times = [Glibc.timespec](repeating: Self.time(entry.modified), count: 2)
        utimensat(AT_FDCWD, path, &times, 0)
    }

    /// Floored, so a time before 1970 keeps tv_nsec in 0..<10^9 as utimensat requires.
    static func time(_ nanoseconds: Int64) -> Glibc.timespec {
        let (seconds, fraction) = nanoseconds.quotientAndRemainder(dividingBy: 1_000_000_000)
        return fraction < 0 ? Glibc.timespec(tv_sec: Int(seconds - 1), tv_nsec: Int(fraction + 1_000_000_000))
                            : Glibc.timespec(tv_sec: Int(seconds), tv_nsec: Int(fraction))
    }
}

/// Units a restore's files draw on to fetch more than one chunk at a time.
final class ChunkBudget: @unchecked Sendable {
    private let lock = NSLock()
    private var left: Int

    init(_ units: Int) {
        left = max(0, units)
    }

    /// One unit, if any is left.
    func take() -> Bool {
        lock.withLock {
            guard left > 0 else { return false }
            left -= 1
            return true
        }
    }

    func giveBack(_ units: Int) {
        lock.withLock { left += units }
    }

    /// Units not taken.
    var available: Int {
        lock.withLock { left }
    }
}
