import FludCodec
import Foundation

/// A peer's public Ed25519 key: who a node or a user is on the wire.
public struct PeerKey: Hashable, Sendable, CustomStringConvertible {
    public static let byteCount = 32
    public let bytes: [UInt8]

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = Array(bytes)
    }

    public var hex: String { ContentHash(bytes: bytes)!.hex }
    public var description: String { String(hex.prefix(16)) }

    /// True if `signature` signs `message` under this key.
    public func isValidSignature(_ signature: some Collection<UInt8>, for message: [UInt8]) -> Bool {
        SigningKey.verify(Array(signature), of: message, publicKey: bytes)
    }
}

/// An Ed25519 key pair (``SigningKey``, libsodium): a node's or a user's
/// identity on the wire. Kept on disk as its 32-byte private seed, readable
/// by its owner only.
public struct PeerIdentity: Sendable {
    private let key: SigningKey
    public let publicKey: PeerKey

    public init() {
        self.init(key: .generate())
    }

    public init?(seed: [UInt8]) {
        guard let key = SigningKey(seed: seed) else { return nil }
        self.init(key: key)
    }

    private init(key: SigningKey) {
        self.key = key
        publicKey = PeerKey(bytes: key.publicKey)!
    }

    public var seed: [UInt8] { key.seed }

    public func signature(for message: [UInt8]) -> [UInt8] {
        key.sign(message)
    }

    /// Loads the identity in `path`, creating it (mode 0600, in a directory
    /// made with mode 0700 if missing) on first use.
    public static func loadOrCreate(at path: String) throws -> PeerIdentity {
        if FileManager.default.fileExists(atPath: path) {
            guard let seed = FileManager.default.contents(atPath: path), let identity = PeerIdentity(seed: Array(seed)) else {
                throw IdentityError(path: path, reason: "it is not a 32-byte Ed25519 seed")
            }
            return identity
        }
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw IdentityError(path: path, reason: "its directory cannot be created (\(error.localizedDescription))")
        }
        let identity = PeerIdentity()
        // Written under a temporary name and renamed, so a crash never leaves half a key.
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(identity.seed),
                                             attributes: [.posixPermissions: 0o600]),
              rename(temporary, path) == 0 else {
            throw IdentityError(path: path, reason: "it cannot be written")
        }
        return identity
    }
}

public struct IdentityError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "cannot use the identity in \(path): \(reason)" }

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
}
