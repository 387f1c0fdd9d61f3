import CZstd

/// zstd (Debian libzstd) for chunks, used only when it pays.
enum Compression {
    /// Fast and still effective on text and logs.
    static let level: Int32 = 3
    /// Bytes tried before committing to compress a whole chunk.
    static let sampleSize = 64 << 10

    /// The chunk compressed, or nil when compression would not save at least
    /// 3 %: incompressible data (media, archives, ciphertext) is detected on
    /// a 64 KiB sample at zstd's fastest level, so it costs little.
    static func compressIfWorthwhile(_ bytes: [UInt8]) -> [UInt8]? {
        guard bytes.count >= 512 else { return nil }
        if bytes.count > 2 * sampleSize {
            guard let sample = compress(Array(bytes.prefix(sampleSize)), level: 1),
                  sample.count < sampleSize * 97 / 100 else { return nil }
        }
        guard let compressed = compress(bytes, level: level), compressed.count < bytes.count * 97 / 100 else { return nil }
        return compressed
    }

    private static func compress(_ bytes: [UInt8], level: Int32) -> [UInt8]? {
        let bound = ZSTD_compressBound(bytes.count)
        var output = [UInt8](repeating: 0, count: bound)
        let written = output.withUnsafeMutableBytes { destination in
            bytes.withUnsafeBytes { source in
                ZSTD_compress(destination.baseAddress, bound, source.baseAddress, source.count, level)
            }
        }
        guard ZSTD_isError(written) == 0 else { return nil }
        output.removeLast(bound - written)
        return output
    }

    /// Decompresses a chunk whose plaintext is `length` bytes.
    static func decompress(_ bytes: [UInt8], length: Int) throws(BackupError) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: length)
        let written = output.withUnsafeMutableBytes { destination in
            bytes.withUnsafeBytes { source in
                ZSTD_decompress(destination.baseAddress, length, source.baseAddress, source.count)
            }
        }
        guard ZSTD_isError(written) == 0, written == length else {
            throw .corruptObject("a compressed chunk does not decompress to its recorded length")
        }
        return output
    }
}
