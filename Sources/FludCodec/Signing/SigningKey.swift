internal import CSodium

/// An Ed25519 key pair (libsodium): it signs BEP 44 mutable items, and is a
/// node's or a user's identity on the wire (`PeerIdentity`).
///
/// The secret key lives in memory libsodium guards and wipes when the last
/// copy of the key goes (``SecretKeyMemory``), never in a Swift array.
public struct SigningKey: Sendable {
    public let publicKey: [UInt8]
    private let secret: SecretKeyMemory

    /// The key pair of a 32-byte seed (libsodium `crypto_sign_seed_keypair`).
    public init?(seed: [UInt8]) {
        guard seed.count == 32, let secret = SecretKeyMemory() else { return nil }
        var publicKey = [UInt8](repeating: 0, count: 32)
        guard crypto_sign_seed_keypair(&publicKey, secret.bytes, seed) == 0 else { return nil }
        self.publicKey = publicKey
        self.secret = secret
    }

    /// A new random key pair (libsodium `crypto_sign_keypair`).
    public static func generate() -> SigningKey {
        guard let secret = SecretKeyMemory() else { fatalError("libsodium cannot allocate a secret key") }
        var publicKey = [UInt8](repeating: 0, count: 32)
        precondition(crypto_sign_keypair(&publicKey, secret.bytes) == 0, "crypto_sign_keypair failed")
        return SigningKey(publicKey: publicKey, secret: secret)
    }

    private init(publicKey: [UInt8], secret: SecretKeyMemory) {
        self.publicKey = publicKey
        self.secret = secret
    }

    /// The 32-byte seed the pair derives from, to be kept on disk; keep it secret.
    public var seed: [UInt8] {
        var seed = [UInt8](repeating: 0, count: 32)
        crypto_sign_ed25519_sk_to_seed(&seed, secret.bytes)
        return seed
    }

    /// The 64-byte detached signature of `message`.
    public func sign(_ message: [UInt8]) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: 64)
        _ = crypto_sign_detached(&signature, nil, message, UInt64(message.count), secret.bytes)
        return signature
    }

    /// Whether `signature` is `publicKey`'s signature of `message`.
    public static func verify(_ signature: [UInt8], of message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard signature.count == 64, publicKey.count == 32, sodium_init() >= 0 else { return false }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }
}

/// 64 bytes from `sodium_malloc` (guard pages, kept out of swap where the
/// system allows), zeroed by `sodium_free` when the last key sharing them goes.
/// Written once, at creation, then only read: safe to share between threads.
private final class SecretKeyMemory: @unchecked Sendable {
    let bytes: UnsafeMutablePointer<UInt8>

    init?() {
        guard sodium_init() >= 0, let memory = sodium_malloc(64) else { return nil }
        bytes = memory.bindMemory(to: UInt8.self, capacity: 64)
    }

    deinit {
        sodium_free(bytes)
    }
}
