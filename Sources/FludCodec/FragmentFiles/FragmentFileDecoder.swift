#if canImport(Glibc)
import Glibc
#endif

/// Rebuilds a file from any k of its fragment files, in any order.
///
/// Fragments that are unreadable, corrupt or of another file are reported and
/// set aside; duplicates serve as spares. Each stripe is read from the first k
/// fragments whose segment passes its checksum, data fragments first so that an
/// intact stripe needs no arithmetic. The output is built under a temporary name
/// and renamed only after the whole file matches the hash recorded at encoding;
/// a failed decode leaves no output.
public struct FragmentFileDecoder {
    /// A fragment file set aside or a stripe segment replaced, for the user to see.
    public typealias Warning = (String) -> Void

    private let fragments: [Fragment]
    /// The header every accepted fragment shares.
    public let header: FragmentHeader
    private let warn: Warning

    private struct Fragment {
        let file: SystemFile
        let index: Int
    }

    /// Opens and sorts out the given fragment files.
    ///
    /// - Throws: ``FragmentFileError/noFragments`` or
    ///   ``FragmentFileError/notEnoughFragments(usable:needed:)``.
    public init(fragmentPaths: [String], warn: @escaping Warning) throws {
        self.warn = warn
        var candidates: [(file: SystemFile, header: FragmentHeader)] = []
        for path in fragmentPaths {
            do {
                let file = try SystemFile.openForReading(path)
                var bytes = [UInt8](repeating: 0, count: FragmentHeader.maximumSize)
                let count = try bytes.withUnsafeMutableBytes { try file.read(into: $0, at: 0) }
                candidates.append((file, try FragmentHeader(decoding: Array(bytes[..<count]))))
            } catch {
                warn("ignoring \(path): \(error)")
            }
        }
        // Fragments of several files may be mixed up: decode the file most of them
        // belong to and set the others aside.
        var groups: [(header: FragmentHeader, members: [(file: SystemFile, header: FragmentHeader)])] = []
        for candidate in candidates {
            if let group = groups.firstIndex(where: { $0.header.belongsWith(candidate.header) }) {
                groups[group].members.append(candidate)
            } else {
                groups.append((candidate.header, [candidate]))
            }
        }
        let distinctIndices = { (members: [(file: SystemFile, header: FragmentHeader)]) in
            Set(members.map(\.header.index)).count
        }
        guard let chosen = groups.max(by: { distinctIndices($0.members) < distinctIndices($1.members) }) else {
            throw FragmentFileError.noFragments
        }
        for group in groups where !group.header.belongsWith(chosen.header) {
            for member in group.members {
                warn("ignoring \(member.file.path): it is a fragment of another file (\(group.header.fileName), \(group.header.fileHash.hex.prefix(12)))")
            }
        }
        header = chosen.header
        fragments = chosen.members
            .map { Fragment(file: $0.file, index: $0.header.index) }
            .sorted { $0.index < $1.index }
        let usable = distinctIndices(chosen.members)
        guard usable >= header.dataShards else {
            throw FragmentFileError.notEnoughFragments(usable: usable, needed: header.dataShards)
        }
        for fragment in fragments {
            let size = try fragment.file.status().size
            if size < header.fragmentFileSize {
                warn("\(fragment.file.path) is truncated (\(size) of \(header.fragmentFileSize) bytes); its missing stripes come from other fragments")
            }
        }
    }

    /// Decodes into `outputPath`.
    ///
    /// - Parameters:
    ///   - overwrite: replace an existing file at `outputPath` instead of failing.
    ///   - progress: called after each stripe with the file bytes written so far
    ///     and the file's length.
    /// - Throws: ``FragmentFileError``, ``FileError`` or ``CodecError``; nothing
    ///   is left at `outputPath` then.
    public func decode(to outputPath: String, overwrite: Bool = false, progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws {
        if !overwrite, FileSystem.exists(outputPath) { throw FragmentFileError.outputExists(outputPath) }
        try FileSystem.checkWritableDirectory(directoryName(of: outputPath))
        let temporary = temporaryPath(for: outputPath)
        let output = try SystemFile.createNew(temporary)
        var completed = false
        defer { if !completed { FileSystem.removeIfPresent(temporary) } }

        let code = try ReedSolomon(dataShards: header.dataShards, parityShards: header.parityShards)
        let stripe = StripeBuffer(shardCount: code.totalShards, shardCapacity: header.stripeSize / header.dataShards)
        var hasher = ContentHasher()
        var written = 0
        var damaged = Set<Int>()
        for stripeIndex in 0..<header.stripeCount {
            stripe.shardLength = header.shardLength(inStripe: stripeIndex)
            let present = try readStripe(stripeIndex, into: stripe, damaged: &damaged)
            try code.reconstruct(stripe, present: present, wanted: .first(code.dataShards))
            var remaining = header.dataBytes(inStripe: stripeIndex)
            for index in 0..<code.dataShards where remaining > 0 {
                let bytes = UnsafeRawBufferPointer(rebasing: stripe.shard(index).prefix(remaining))
                hasher.update(bytes)
                try output.write(bytes)
                remaining -= bytes.count
            }
            written += header.dataBytes(inStripe: stripeIndex)
            progress(written, header.fileLength)
        }
        guard hasher.finalize() == header.fileHash else { throw FragmentFileError.hashMismatch }
        try output.sync()
        try FileSystem.rename(temporary, to: outputPath)
        completed = true
        try FileSystem.syncDirectory(directoryName(of: outputPath))
    }

    /// Reads intact segments of one stripe into `stripe` until k are present.
    ///
    /// - Parameter damaged: positions in `fragments` already reported as damaged,
    ///   so each bad fragment is reported once, not once per stripe.
    private func readStripe(_ stripeIndex: Int, into stripe: StripeBuffer, damaged: inout Set<Int>) throws -> ShardSet {
        let offset = header.segmentOffset(ofStripe: stripeIndex)
        var present = ShardSet()
        var checksum: UInt32 = 0
        for (position, fragment) in fragments.enumerated() where !present.contains(fragment.index) {
            let shard = stripe.shard(fragment.index)
            let intact = try fragment.file.read(into: shard, at: offset) == shard.count
                && withUnsafeMutableBytes(of: &checksum) { try fragment.file.read(into: $0, at: offset + shard.count) } == 4
                && UInt32(littleEndian: checksum) == CRC32C.checksum(UnsafeRawBufferPointer(shard))
            if intact {
                present.insert(fragment.index)
                if present.count == header.dataShards { return present }
            } else if damaged.insert(position).inserted {
                warn("\(fragment.file.path): stripe \(stripeIndex) is damaged; other fragments stand in for its damaged stripes")
            }
        }
        throw FragmentFileError.stripeUnrecoverable(stripe: stripeIndex, good: present.count, needed: header.dataShards)
    }
}
