#if canImport(Glibc)
import Glibc
#endif

/// Encodes a file into k + m fragment files (zfec-style), stripe by stripe, so
/// memory stays at one stripe whatever the file's size.
///
/// Fragments are written under temporary names and renamed only once all of them
/// are complete and synced; on any failure the temporary files are removed and no
/// fragment is left behind.
public struct FragmentFileEncoder: Sendable {
    /// File bytes per stripe unless told otherwise: a few MiB keeps memory small
    /// and each write large.
    public static let defaultStripeSize = 4 << 20

    public let code: ReedSolomon
    /// File bytes per full stripe, a multiple of k.
    public let stripeSize: Int

    /// - Parameter stripeSize: requested file bytes per stripe; rounded up to a
    ///   multiple of 64 · k so that full shards stay cache-line sized.
    public init(code: ReedSolomon, stripeSize: Int = FragmentFileEncoder.defaultStripeSize) {
        self.code = code
        let unit = 64 * code.dataShards
        self.stripeSize = max(unit, (stripeSize + unit - 1) / unit * unit)
    }

    /// The file name fragment `index` of `fileName` gets: `NAME.III_NNN.flud`.
    public func fragmentName(for fileName: String, index: Int) -> String {
        let width = String(code.totalShards - 1).count
        let number = String(index)
        return "\(fileName).\(String(repeating: "0", count: width - number.count))\(number)_\(code.totalShards).flud"
    }

    /// Encodes `inputPath` into fragment files in `outputDirectory`.
    ///
    /// - Parameters:
    ///   - overwrite: replace fragment files that already exist instead of failing.
    ///   - progress: called after each stripe with the file bytes encoded so far
    ///     and the file's length.
    /// - Returns: the paths of the n fragment files, in index order.
    /// - Throws: ``FragmentFileError`` or ``FileError``.
    public func encode(inputPath: String, outputDirectory: String, overwrite: Bool = false,
                       progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> [String] {
        let input = try SystemFile.openForReading(inputPath)
        let (fileLength, isRegular) = try input.status()
        guard isRegular else { throw FragmentFileError.notARegularFile(inputPath) }
        try FileSystem.checkWritableDirectory(outputDirectory)

        let fileName = String(decoding: baseName(of: inputPath).utf8.prefix(255), as: UTF8.self)
        let finalPaths = (0..<code.totalShards).map { "\(outputDirectory)/\(fragmentName(for: fileName, index: $0))" }
        if !overwrite, let existing = finalPaths.first(where: FileSystem.exists) {
            throw FragmentFileError.outputExists(existing)
        }
        let temporaryPaths = finalPaths.map { temporaryPath(for: $0) }
        var completed = false
        defer { if !completed { temporaryPaths.forEach(FileSystem.removeIfPresent) } }

        var header = FragmentHeader(dataShards: code.dataShards, parityShards: code.parityShards, index: 0,
                                    fileLength: fileLength, stripeSize: stripeSize,
                                    fileHash: ContentHash(of: []), fileName: fileName)
        let outputs = try temporaryPaths.map(SystemFile.createNew)
        let fileHash = try writeStripes(from: input, header: header, to: outputs, progress: progress)

        header.fileHash = fileHash
        for (index, output) in outputs.enumerated() {
            header.index = index
            try output.write(header.encoded(), at: 0)
            try output.sync()
        }
        for (temporary, final) in zip(temporaryPaths, finalPaths) {
            try FileSystem.rename(temporary, to: final)
        }
        completed = true
        try FileSystem.syncDirectory(outputDirectory)
        return finalPaths
    }

    /// Streams the payload of every fragment after a space for its header;
    /// returns the hash of the file's bytes.
    private func writeStripes(from input: SystemFile, header: FragmentHeader, to outputs: [SystemFile],
                              progress: (_ done: Int, _ total: Int) -> Void) throws -> ContentHash {
        let k = code.dataShards
        let stripe = StripeBuffer(shardCount: code.totalShards, shardCapacity: stripeSize / k)
        var hasher = ContentHasher()
        for output in outputs {
            try output.write([UInt8](repeating: 0, count: header.size))
        }
        var encoded = 0
        for stripeIndex in 0..<header.stripeCount {
            let dataBytes = header.dataBytes(inStripe: stripeIndex)
            stripe.shardLength = header.shardLength(inStripe: stripeIndex)
            var remaining = dataBytes
            for index in 0..<k {
                let shard = stripe.shard(index)
                let wanted = min(remaining, shard.count)
                let got = try input.read(into: UnsafeMutableRawBufferPointer(rebasing: shard[..<wanted]))
                guard got == wanted else { throw FragmentFileError.inputChanged(input.path) }
                hasher.update(UnsafeRawBufferPointer(rebasing: shard[..<wanted]))
                shard[wanted...].initializeMemory(as: UInt8.self, repeating: 0)
                remaining -= wanted
            }
            try code.encode(stripe)
            for (index, output) in outputs.enumerated() {
                let shard = UnsafeRawBufferPointer(stripe.shard(index))
                try output.write(shard)
                try output.write(withUnsafeBytes(of: CRC32C.checksum(shard).littleEndian, Array.init))
            }
            encoded += dataBytes
            progress(encoded, header.fileLength)
        }
        var probe: UInt8 = 0
        guard try withUnsafeMutableBytes(of: &probe, { try input.read(into: $0) }) == 0 else {
            throw FragmentFileError.inputChanged(input.path)
        }
        return hasher.finalize()
    }
}

/// A name beside `path` that no other run uses, for output being built.
func temporaryPath(for path: String) -> String {
    "\(directoryName(of: path))/.\(baseName(of: path)).partial-\(getpid())-\(UInt32.random(in: 0 ... .max))"
}

/// Why encoding or decoding fragment files failed.
public enum FragmentFileError: Error, Equatable, Sendable, CustomStringConvertible {
    case notARegularFile(String)
    case inputChanged(String)
    case outputExists(String)
    case noFragments
    case notEnoughFragments(usable: Int, needed: Int)
    case stripeUnrecoverable(stripe: Int, good: Int, needed: Int)
    case hashMismatch

    public var description: String {
        switch self {
        case let .notARegularFile(path):
            "\(path) is not a regular file"
        case let .inputChanged(path):
            "\(path) changed size while it was being encoded"
        case let .outputExists(path):
            "\(path) already exists (use --force to replace it)"
        case .noFragments:
            "none of the given files is a usable fragment"
        case let .notEnoughFragments(usable, needed):
            "only \(usable) usable fragment\(usable == 1 ? "" : "s") of this file, but \(needed) are needed"
        case let .stripeUnrecoverable(stripe, good, needed):
            "stripe \(stripe) has only \(good) intact fragment\(good == 1 ? "" : "s"), but \(needed) are needed"
        case .hashMismatch:
            "the decoded file does not match the hash recorded at encoding time"
        }
    }
}
