import Crypto
import FludCodec

/// A proof-of-storage challenge: the holder of a fragment must answer
/// SHA-256(nonce ‖ bytes[offset ..< offset + length]).
///
/// The nonce is fresh, so the answer cannot be computed ahead of time, and a
/// node that kept only the fragment's key (a hash of it) cannot compute it
/// either. An auditor holding no copy of the data checks the answer against a
/// challenge it precomputed while it still had the data (``precompute(for:count:)``)
/// and uses each challenge once. See docs/PROTOCOL.md for detection odds.
public struct AuditChallenge: Sendable, Equatable, Codable {
    public static let nonceSize = 32

    public var nonce: [UInt8]
    public var offset: UInt64
    public var length: UInt64

    public init(nonce: [UInt8], offset: UInt64, length: UInt64) {
        self.nonce = nonce
        self.offset = offset
        self.length = length
    }

    /// A challenge with a fresh random nonce.
    public static func random(offset: UInt64, length: UInt64) -> AuditChallenge {
        var generator = SystemRandomNumberGenerator()
        return AuditChallenge(nonce: (0..<nonceSize).map { _ in UInt8.random(in: 0...255, using: &generator) },
                              offset: offset, length: length)
    }

    /// True if the challenged range lies inside a fragment of `size` bytes.
    public func fits(size: Int) -> Bool {
        length > 0 && offset < UInt64(size) && length <= UInt64(size) - offset
    }

    /// The answer for `fragment` (which must hold the range: see ``fits(size:)``).
    public func answer(for fragment: UnsafeRawBufferPointer) -> [UInt8] {
        var hash = SHA256()
        nonce.withUnsafeBytes { hash.update(bufferPointer: $0) }
        hash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: fragment[Int(offset)..<Int(offset + length)]))
        return Array(hash.finalize())
    }

    /// `count` whole-fragment challenges with their expected answers, made
    /// while the data is at hand. A whole-fragment challenge catches any
    /// dropped or altered byte.
    public static func precompute(for fragment: [UInt8], count: Int) -> [(challenge: AuditChallenge, answer: [UInt8])] {
        fragment.withUnsafeBytes { bytes in
            (0..<count).map { _ in
                let challenge = AuditChallenge.random(offset: 0, length: UInt64(bytes.count))
                return (challenge, challenge.answer(for: bytes))
            }
        }
    }
}
