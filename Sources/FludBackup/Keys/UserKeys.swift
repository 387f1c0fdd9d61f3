import Crypto
import FludCodec
import FludDHT
import FludWire
import Foundation

/// A user's keys, all derived from one 32-byte secret that the user can write
/// down as a recovery phrase: with the phrase alone, a new machine restores
/// everything.
///
/// Derivation: HKDF-SHA-256 of the secret, salt "flud", one info label per key:
/// - "snapshot-signing": the Ed25519 seed that signs the snapshot root (BEP 44);
/// - "convergence": the secret mixed into every chunk's encryption key;
/// - "wire-identity": the Ed25519 seed the user proves to nodes (its claims).
public struct UserKeys: Sendable {
    public static let secretSize = 32
    public let secret: [UInt8]
    public let snapshotKey: SigningKey
    public let cipher: ConvergentCipher
    public let wireIdentity: PeerIdentity

    public init?(secret: [UInt8]) {
        guard secret.count == Self.secretSize else { return nil }
        self.secret = secret
        func derive(_ label: String) -> [UInt8] {
            HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: secret), salt: Array("flud".utf8),
                                   info: Array(label.utf8), outputByteCount: 32)
                .withUnsafeBytes { Array($0) }
        }
        guard let snapshotKey = SigningKey(seed: derive("snapshot-signing")),
              let wireIdentity = PeerIdentity(seed: derive("wire-identity")) else { return nil }
        self.snapshotKey = snapshotKey
        self.wireIdentity = wireIdentity
        cipher = ConvergentCipher(secret: derive("convergence"))
    }

    public static func generate() -> UserKeys {
        var generator = SystemRandomNumberGenerator()
        return UserKeys(secret: (0..<secretSize).map { _ in UInt8.random(in: 0...255, using: &generator) })!
    }

    // MARK: The recovery phrase

    /// The secret and a 2-byte checksum in lower-case base32, in groups of four
    /// letters: 55 characters a person can copy and type back.
    public var recoveryPhrase: String {
        let checksum = Array(SHA256.hash(data: secret).prefix(2))
        let text = Base32.encode(secret + checksum)
        return stride(from: 0, to: text.count, by: 4).map { start in
            let from = text.index(text.startIndex, offsetBy: start)
            return String(text[from..<(text.index(from, offsetBy: 4, limitedBy: text.endIndex) ?? text.endIndex)])
        }.joined(separator: "-")
    }

    /// Reads a recovery phrase; spaces, dashes and case do not matter.
    public init(recoveryPhrase: String) throws(KeyError) {
        let letters = recoveryPhrase.lowercased().filter { !$0.isWhitespace && $0 != "-" }
        guard let bytes = Base32.decode(letters), bytes.count == Self.secretSize + 2 else {
            throw .malformedPhrase
        }
        let secret = Array(bytes.prefix(Self.secretSize))
        guard Array(SHA256.hash(data: secret).prefix(2)) == Array(bytes.suffix(2)) else { throw .checksumMismatch }
        self = UserKeys(secret: secret)!
    }

    // MARK: Keeping them

    /// The file in `home` that holds the secret.
    public static func path(in home: String) -> String { home + "/user.key" }

    public static func load(from home: String) throws(KeyError) -> UserKeys {
        let path = path(in: home)
        guard let data = FileManager.default.contents(atPath: path) else { throw .missing(path: path) }
        guard let keys = UserKeys(secret: Array(data)) else { throw .damaged(path: path) }
        return keys
    }

    /// Writes the secret to `home` (mode 0600); refuses to replace another one.
    public func save(in home: String, replacing: Bool = false) throws(KeyError) {
        let path = Self.path(in: home)
        if !replacing, let existing = try? Self.load(from: home) {
            if existing.secret == secret { return }
            throw .exists(path: path)
        }
        do {
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw .unwritable(path: path)
        }
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(secret), attributes: [.posixPermissions: 0o600]),
              rename(temporary, path) == 0 else { throw .unwritable(path: path) }
    }
}

public enum KeyError: Error, Equatable, CustomStringConvertible {
    case malformedPhrase
    case checksumMismatch
    case missing(path: String)
    case damaged(path: String)
    case exists(path: String)
    case unwritable(path: String)

    public var description: String {
        switch self {
        case .malformedPhrase: "that is not a flud recovery phrase (55 letters and digits in groups of four)"
        case .checksumMismatch: "the recovery phrase has a typo: its checksum does not match"
        case let .missing(path): "no keys in \(path); run `flud key init`, or `flud key import` with your recovery phrase"
        case let .damaged(path): "\(path) is damaged: it is not a 32-byte key"
        case let .exists(path): "\(path) already holds other keys; move it away first (they are the only way to your backups)"
        case let .unwritable(path): "cannot write \(path)"
        }
    }
}

/// RFC 4648 base32, lower case, without padding.
enum Base32 {
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")

    static func encode(_ bytes: [UInt8]) -> String {
        var result = ""
        var buffer = 0, bits = 0
        for byte in bytes {
            buffer = buffer << 8 | Int(byte)
            bits += 8
            while bits >= 5 {
                result.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { result.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return result
    }

    static func decode(_ text: String) -> [UInt8]? {
        var result: [UInt8] = []
        var buffer = 0, bits = 0
        for character in text {
            guard let value = alphabet.firstIndex(of: character) else { return nil }
            buffer = (buffer << 5 | value) & 0xFFFF
            bits += 5
            if bits >= 8 {
                result.append(UInt8((buffer >> (bits - 8)) & 0xFF))
                bits -= 8
            }
        }
        return result
    }
}
