import FludCodec

/// Who holds a claim on a fragment: a 32-byte peer identity (the node layer
/// derives it from the peer's public key).
public struct OwnerID: Hashable, Sendable, CustomStringConvertible {
    public static let byteCount = 32
    let value: ContentHash

    /// Exactly 32 bytes, or nil.
    public init?(bytes: some Collection<UInt8>) {
        guard let value = ContentHash(bytes: bytes) else { return nil }
        self.value = value
    }

    public var bytes: [UInt8] { value.bytes }
    public var hex: String { value.hex }
    public var description: String { String(value.hex.prefix(16)) }
}
