internal import CFludKernels
internal import CISAL

/// A coefficient matrix expanded into the lookup tables one kernel needs, built
/// once per matrix and reused for every call (tables are immutable after `init`,
/// so any number of threads may apply them at once).
final class KernelTables: @unchecked Sendable {
    let kernel: CodecKernel
    /// Output rows of the matrix.
    let rows: Int
    /// Input columns of the matrix.
    let columns: Int
    private let tables: UnsafeMutableRawPointer

    /// - Parameter matrix: rows × columns coefficients.
    init(kernel: CodecKernel, matrix: GaloisMatrix) {
        self.kernel = kernel
        rows = matrix.rows
        columns = matrix.columns
        var coefficients = matrix.bytes
        switch kernel {
        case .gfni:
            // One 8×8 bit matrix per coefficient.
            tables = .allocateAligned(byteCount: max(8 * rows * columns, 64))
            cfludkernels_gfni_tables(Int32(columns), Int32(rows), coefficients,
                                     tables.assumingMemoryBound(to: UInt64.self))
        case .avx2, .isal:
            // ec_init_tables expands each coefficient into 32 bytes of nibble
            // tables; flud's AVX2 kernel reads the same layout.
            tables = .allocateAligned(byteCount: max(32 * rows * columns, 64))
            coefficients.withUnsafeMutableBufferPointer {
                ec_init_tables(Int32(columns), Int32(rows), $0.baseAddress,
                               tables.assumingMemoryBound(to: UInt8.self))
            }
        }
    }

    deinit {
        tables.deallocateAligned()
    }

    /// Computes `rows` output shards from `columns` input shards of `length` bytes.
    /// Allocates nothing.
    func apply(length: Int,
               inputs: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>,
               outputs: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>) {
        guard length > 0, rows > 0 else { return }
        switch kernel {
        case .gfni:
            cfludkernels_gfni_gf_matmul(length, Int32(columns), Int32(rows), tables.assumingMemoryBound(to: UInt64.self),
                                        UnsafeRawPointer(inputs).assumingMemoryBound(to: UnsafePointer<UInt8>?.self),
                                        outputs)
        case .avx2:
            cfludkernels_avx2_gf_matmul(length, Int32(columns), Int32(rows), tables.assumingMemoryBound(to: UInt8.self),
                                        UnsafeRawPointer(inputs).assumingMemoryBound(to: UnsafePointer<UInt8>?.self),
                                        outputs)
        case .isal:
            ec_encode_data(Int32(length), Int32(columns), Int32(rows),
                           tables.assumingMemoryBound(to: UInt8.self), inputs, outputs)
        }
    }
}
