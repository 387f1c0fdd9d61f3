internal import CSodium

/// An Ed25519 key pair (libsodium): it signs BEP 44 mutable items, and is a
/// node's or a user's identity on the wire (`PeerIdentity`).
public struct SigningKey: Sendable {
    /// The 32-byte seed the pair derives from; keep it secret.
    public let seed: [UInt8]
    public let publicKey: [UInt8]
    private let secretKey: [UInt8]

    /// The key pair of a 32-byte seed (libsodium `crypto_sign_seed_keypair`).
    public init?(seed: [UInt8]) {
        guard seed.count == 32, sodium_init() >= 0 else { return nil }
        var publicKey = [UInt8](repeating: 0, count: 32)
        var secretKey = [UInt8](repeating: 0, count: 64)
        guard crypto_sign_seed_keypair(&publicKey, &secretKey, seed) == 0 else { return nil }
        self.seed = seed
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A new random key pair.
    public static func generate() -> SigningKey {
        var generator = SystemRandomNumberGenerator()
        return SigningKey(seed: (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })!
    }

    /// The 64-byte detached signature of `message`.
    public func sign(_ message: [UInt8]) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: 64)
        _ = crypto_sign_detached(&signature, nil, message, UInt64(message.count), secretKey)
        return signature
    }

    /// Whether `signature` is `publicKey`'s signature of `message`.
    public static func verify(_ signature: [UInt8], of message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard signature.count == 64, publicKey.count == 32, sodium_init() >= 0 else { return false }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }
}
