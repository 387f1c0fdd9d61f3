import CZstd
import Synchronization

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
        return bytes.withUnsafeBytes { source in
            if source.count > 2 * sampleSize {
                guard let sample = compress(UnsafeRawBufferPointer(rebasing: source[..<sampleSize]), level: 1),
                      sample.count < sampleSize * 97 / 100 else { return nil }
            }
            guard let compressed = compress(source, level: level), compressed.count < source.count * 97 / 100 else { return nil }
            return compressed
        }
    }

    private static func compress(_ source: UnsafeRawBufferPointer, level: Int32) -> [UInt8]? {
        let bound = ZSTD_compressBound(source.count)
        return compressionContexts.withContext { context in
            var failed = false
            let output = [UInt8](unsafeUninitializedCapacity: bound) { destination, count in
                let written = ZSTD_compressCCtx(context, destination.baseAddress, bound, source.baseAddress, source.count, level)
                failed = ZSTD_isError(written) != 0
                count = failed ? 0 : written
            }
            return failed ? nil : output
        }
    }

    /// Decompresses a chunk whose plaintext is `length` bytes.
    static func decompress(_ bytes: [UInt8], length: Int) throws(BackupError) -> [UInt8] {
        var written = 0
        let output = decompressionContexts.withContext { context in
            [UInt8](unsafeUninitializedCapacity: length) { destination, count in
                written = bytes.withUnsafeBytes { source in
                    ZSTD_decompressDCtx(context, destination.baseAddress, length, source.baseAddress, source.count)
                }
                count = ZSTD_isError(written) == 0 && written == length ? length : 0
            }
        }
        guard ZSTD_isError(written) == 0, written == length else {
            throw .corruptObject("a compressed chunk does not decompress to its recorded length")
        }
        return output
    }

    // zstd's one-shot calls build a context per call: megabytes of match
    // tables allocated and cleared for every chunk. Contexts are reused
    // instead, one per concurrent caller (at most a few, as many as threads).
    private static let compressionContexts = ContextPool(make: { ZSTD_createCCtx() }, free: { ZSTD_freeCCtx($0) })
    private static let decompressionContexts = ContextPool(make: { ZSTD_createDCtx() }, free: { ZSTD_freeDCtx($0) })
}

/// Idle zstd contexts, lent out one caller at a time.
private final class ContextPool<Context>: Sendable {
    private let idle = Mutex<[UnsafeSendable<Context>]>([])
    private let make: @Sendable () -> Context?
    private let free: @Sendable (Context) -> Void
    /// Idle contexts kept beyond this are freed.
    private let keep = 16

    init(make: @escaping @Sendable () -> Context?, free: @escaping @Sendable (Context) -> Void) {
        self.make = make
        self.free = free
    }

    func withContext<Result>(_ body: (Context) -> Result) -> Result {
        guard let context = idle.withLock({ $0.popLast()?.value }) ?? make() else {
            preconditionFailure("zstd could not allocate a context (out of memory)")
        }
        defer {
            let kept = idle.withLock { pool in
                guard pool.count < keep else { return false }
                pool.append(UnsafeSendable(value: context))
                return true
            }
            if !kept { free(context) }
        }
        return body(context)
    }
}

/// A zstd context moves between threads only through the pool, which lends
/// it to one caller at a time.
private struct UnsafeSendable<Value>: @unchecked Sendable {
    let value: Value
}
