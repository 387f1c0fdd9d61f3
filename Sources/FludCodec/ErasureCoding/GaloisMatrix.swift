internal import CISAL

/// A row-major matrix over GF(2^8) (ISA-L's field, polynomial 0x11D).
struct GaloisMatrix: Equatable, Sendable {
    let rows: Int
    let columns: Int
    var bytes: [UInt8]

    init(rows: Int, columns: Int, bytes: [UInt8]) {
        precondition(bytes.count == rows * columns)
        self.rows = rows
        self.columns = columns
        self.bytes = bytes
    }

    /// The systematic Cauchy encoding matrix: k identity rows over m rows of
    /// 1 / (i ⊕ j). Every k × k submatrix of it is invertible for k + m ≤ 256.
    /// Calls ISA-L's `gf_gen_cauchy1_matrix`.
    static func cauchyEncoding(dataShards k: Int, parityShards m: Int) -> GaloisMatrix {
        var bytes = [UInt8](repeating: 0, count: (k + m) * k)
        bytes.withUnsafeMutableBufferPointer {
            gf_gen_cauchy1_matrix($0.baseAddress, Int32(k + m), Int32(k))
        }
        return GaloisMatrix(rows: k + m, columns: k, bytes: bytes)
    }

    /// The matrix made of the given rows, in that order.
    func selecting<Rows: Sequence<Int>>(rows selected: Rows) -> GaloisMatrix {
        var bytes: [UInt8] = []
        var count = 0
        for row in selected {
            bytes += self.bytes[row * columns ..< (row + 1) * columns]
            count += 1
        }
        return GaloisMatrix(rows: count, columns: columns, bytes: bytes)
    }

    /// The inverse of a square matrix, or nil if it is singular.
    /// Calls ISA-L's `gf_invert_matrix` (which overwrites its input, hence the copy).
    func inverted() -> GaloisMatrix? {
        precondition(rows == columns, "only square matrices invert")
        var input = bytes
        var output = [UInt8](repeating: 0, count: bytes.count)
        let status = input.withUnsafeMutableBufferPointer { input in
            output.withUnsafeMutableBufferPointer { output in
                gf_invert_matrix(input.baseAddress, output.baseAddress, Int32(rows))
            }
        }
        return status == 0 ? GaloisMatrix(rows: rows, columns: columns, bytes: output) : nil
    }

    /// The product self × other.
    static func * (lhs: GaloisMatrix, rhs: GaloisMatrix) -> GaloisMatrix {
        precondition(lhs.columns == rhs.rows)
        var product = [UInt8](repeating: 0, count: lhs.rows * rhs.columns)
        for row in 0..<lhs.rows {
            for column in 0..<rhs.columns {
                var sum: UInt8 = 0
                for i in 0..<lhs.columns {
                    sum ^= gf_mul(lhs.bytes[row * lhs.columns + i], rhs.bytes[i * rhs.columns + column])
                }
                product[row * rhs.columns + column] = sum
            }
        }
        return GaloisMatrix(rows: lhs.rows, columns: rhs.columns, bytes: product)
    }
}
