import Crypto

/// Convergent encryption for a user's chunks: AES-256-GCM (swift-crypto, the
/// fastest AEAD measured here) under a key derived from the chunk's plaintext
/// hash and the user's secret, HMAC-SHA-256(secret, hash(plaintext)), the hash
/// being the chunk's name (``ContentHash/init(chunk:)-(UnsafeRawBufferPointer)``).
///
/// Equal chunks of one user encrypt to equal ciphertexts, so they dedupe;
/// without the secret, nobody can tell which file a ciphertext holds. A key
/// only ever seals one plaintext, so a fixed nonce is safe.
public struct ConvergentCipher: Sendable {
    private let secret: SymmetricKey
    static let nonce = try! AES.GCM.Nonce(data: [UInt8](repeating: 0, count: 12))
    /// Bytes the seal adds (the GCM tag).
    public static let overhead = 16

    public init(secret: [UInt8]) {
        precondition(secret.count == 32, "the convergence secret is 32 bytes")
        self.secret = SymmetricKey(data: secret)
    }

    private func key(for plaintextHash: ContentHash) -> SymmetricKey {
        plaintextHash.withUnsafeBytes { SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: $0, using: secret))) }
    }

    /// `payload` (the chunk, maybe compressed) sealed under the key of the
    /// chunk's plaintext hash: ciphertext then tag.
    public func seal(_ payload: [UInt8], plaintextHash: ContentHash) -> [UInt8] {
        seal(payload, plaintextHash: plaintextHash) { Array($0) }
    }

    /// Runs `body` on the sealed bytes (ciphertext then tag) where the cipher
    /// left them, for a caller that copies them on anyway (into a stripe).
    public func seal<Result>(_ payload: [UInt8], plaintextHash: ContentHash,
                             _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        let box = try! AES.GCM.seal(payload, using: key(for: plaintextHash), nonce: Self.nonce)
        // `combined` is nonce ‖ ciphertext ‖ tag in one buffer (reading
        // `ciphertext` and `tag` would copy each).
        return try box.combined!.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0.dropFirst(12))) }
    }

    /// The payload, or an error if `sealed` was not sealed under this
    /// plaintext hash and secret (wrong key, or altered bytes).
    public func open(_ sealed: [UInt8], plaintextHash: ContentHash) throws -> [UInt8] {
        guard sealed.count >= Self.overhead else { throw CryptoKitError.incorrectParameterSize }
        let box = try AES.GCM.SealedBox(nonce: Self.nonce, ciphertext: sealed.dropLast(Self.overhead),
                                        tag: sealed.suffix(Self.overhead))
        return try AES.GCM.open(box, using: key(for: plaintextHash)).withUnsafeBytes { Array($0) }
    }
}
