internal import CISAL

/// CRC-32C (Castagnoli), the integrity check on every fragment: fast (ISA-L's
/// `crc32_iscsi` runs at tens of GB/s) and good at catching bit rot and torn
/// writes, though not at stopping an adversary; that is ``ContentHash``'s job.
///
/// Values follow the standard definition (reflected, initial value and final
/// XOR 0xFFFFFFFF): `CRC32C.checksum("123456789")` is 0xE3069283.
public enum CRC32C {
    /// The CRC-32C of `bytes`, continuing from `previous` (the CRC of the bytes
    /// before them, or 0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        // ISA-L keeps the register un-inverted, so invert on the way in and out.
        var register = ~previous
        var remaining = bytes[...]
        while !remaining.isEmpty {
            // crc32_iscsi takes an Int32 length.
            let piece = UnsafeRawBufferPointer(rebasing: remaining.prefix(1 << 30))
            register = crc32_iscsi(UnsafeMutablePointer(mutating: piece.baseAddress!.assumingMemoryBound(to: UInt8.self)),
                                   Int32(piece.count), register)
            remaining = remaining.dropFirst(piece.count)
        }
        return ~register
    }

    /// The CRC-32C of a byte collection.
    public static func checksum<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt32 {
        let array = Array(bytes)
        return array.withUnsafeBytes { checksum($0) }
    }
}
