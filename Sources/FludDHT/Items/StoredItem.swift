import Crypto
import FludCodec

/// A BEP 44 item: an immutable value addressed by its SHA-1, or a mutable
/// value signed by an Ed25519 key and addressed by SHA-1(key ‖ salt).
public struct StoredItem: Equatable, Sendable {
    /// The value, any bencode value whose encoding is at most 1000 bytes.
    public var value: BencodeValue
    /// For mutable items: the public key, salt, sequence number and signature.
    public var mutable: Mutable?

    public struct Mutable: Equatable, Sendable {
        public var publicKey: [UInt8]
        public var salt: [UInt8]
        public var sequence: Int64
        public var signature: [UInt8]
    }

    public static let maximumValueSize = 1000
    public static let maximumSaltSize = 64

    public init(immutable value: BencodeValue) {
        self.value = value
        mutable = nil
    }

    /// A mutable item signed with `key`.
    public init(value: BencodeValue, signedBy key: SigningKey, salt: [UInt8] = [], sequence: Int64) {
        self.value = value
        let signature = key.sign(Self.signedBytes(value: value, salt: salt, sequence: sequence))
        mutable = Mutable(publicKey: key.publicKey, salt: salt, sequence: sequence, signature: signature)
    }

    /// Where the item lives in the DHT.
    public var target: NodeID {
        if let mutable { return Self.target(publicKey: mutable.publicKey, salt: mutable.salt) }
        return Self.target(immutable: value)
    }

    public static func target(immutable value: BencodeValue) -> NodeID {
        NodeID(bytes: Array(Insecure.SHA1.hash(data: value.encoded)))!
    }

    public static func target(publicKey: [UInt8], salt: [UInt8]) -> NodeID {
        NodeID(bytes: Array(Insecure.SHA1.hash(data: publicKey + salt)))!
    }

    /// What the signature covers (BEP 44): `4:salt<n>:<salt>` when there is a
    /// salt, then `3:seqi<seq>e1:v` and the encoded value.
    static func signedBytes(value: BencodeValue, salt: [UInt8], sequence: Int64) -> [UInt8] {
        var bytes: [UInt8] = []
        if !salt.isEmpty { bytes += Array("4:salt\(salt.count):".utf8) + salt }
        return bytes + Array("3:seqi\(sequence)e1:v".utf8) + value.encoded
    }

    /// Checks size and, for mutable items, key, salt and signature: the KRPC
    /// error a node answers a bad `put` with (BEP 44 codes 205–207).
    public func validate() -> KRPCError? {
        guard value.encoded.count <= Self.maximumValueSize else { return KRPCError(code: .messageTooBig, message: "message (v field) too big") }
        guard let mutable else { return nil }
        guard mutable.salt.count <= Self.maximumSaltSize else { return KRPCError(code: .saltTooBig, message: "salt (salt field) too big") }
        guard SigningKey.verify(mutable.signature, of: Self.signedBytes(value: value, salt: mutable.salt, sequence: mutable.sequence),
                                publicKey: mutable.publicKey) else {
            return KRPCError(code: .invalidSignature, message: "invalid signature")
        }
        return nil
    }
}

extension StoredItem {
    /// The item as a bencoded dictionary (`v`, and `k`, `salt`, `seq`, `sig`
    /// for mutable items), for keeping it on disk.
    public var record: [UInt8] {
        var dictionary: BencodeDictionary = ["v": value]
        if let mutable {
            dictionary["k"] = .bytes(mutable.publicKey)
            dictionary["seq"] = .integer(mutable.sequence)
            dictionary["sig"] = .bytes(mutable.signature)
            if !mutable.salt.isEmpty { dictionary["salt"] = .bytes(mutable.salt) }
        }
        return BencodeValue.dictionary(dictionary).encoded
    }

    /// An item read back from ``record``; nil if the bytes are not one or the
    /// item does not validate (a damaged record is never served).
    public init?(record: [UInt8]) {
        guard case let .dictionary(dictionary)? = try? BencodeDecoder().decode(record),
              case .success(let item) = ItemStore.item(fromPut: dictionary) else { return nil }
        self = item
    }
}
