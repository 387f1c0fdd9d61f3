import FludCodec
import FludDHT

/// The newest manifest's reference, published as a BEP 44 mutable item
/// signed by the user's snapshot key under the salt "flud-snapshots". The
/// value must fit in 1000 bytes, so the reference is compact and manifests
/// use a small, very redundant code (``manifestCode``).
enum SnapshotRoot {
    static let salt = Array("flud-snapshots".utf8)
    /// 4 + 12: any 4 of 16 fragments rebuild a manifest (75 % may be lost).
    static let manifestCode = (dataShards: 4, parityShards: 12)

    static func target(for keys: UserKeys) -> NodeID {
        StoredItem.target(publicKey: keys.snapshotKey.publicKey, salt: salt)
    }

    /// {h: hash, n: length, z: compressed, k, m, l: sealed length,
    ///  f: n × (key 32 | IPv4 4 | port 2)}
    static func encode(_ chunk: ChunkRef) throws -> BencodeValue {
        var fragments: [UInt8] = []
        for location in chunk.object.fragments {
            guard let key = ContentHash(hex: location.key), let (address, port) = ipv4(location.node) else {
                throw BackupError.uploadFailed("a manifest fragment sits on \(location.node), which has no IPv4 address")
            }
            fragments += key.bytes + address + [UInt8(port >> 8), UInt8(port & 0xFF)]
        }
        return .dictionary([
            "h": .bytes(chunk.plaintextHash.bytes), "n": .integer(Int64(chunk.length)),
            "z": .integer(chunk.compressed ? 1 : 0), "k": .integer(Int64(chunk.object.dataShards)),
            "m": .integer(Int64(chunk.object.parityShards)), "l": .integer(Int64(chunk.object.sealedLength)),
            "f": .bytes(fragments),
        ])
    }

    static func decode(_ value: BencodeValue) -> ChunkRef? {
        guard case let .dictionary(fields) = value,
              let hash = fields["h"]?.bytesValue.flatMap({ ContentHash(bytes: $0) }),
              case let .integer(length)? = fields["n"], case let .integer(compressed)? = fields["z"],
              case let .integer(k)? = fields["k"], case let .integer(m)? = fields["m"],
              case let .integer(sealedLength)? = fields["l"], let packed = fields["f"]?.bytesValue,
              k >= 1, m >= 1, k + m <= 255, packed.count == Int(k + m) * 38 else { return nil }
        let fragments = stride(from: 0, to: packed.count, by: 38).map { start in
            let entry = packed[start..<start + 38]
            let address = entry[(start + 32)..<(start + 36)].map(String.init).joined(separator: ".")
            let port = Int(entry[start + 36]) << 8 | Int(entry[start + 37])
            return ObjectRef.FragmentLocation(key: ContentHash(bytes: entry.prefix(32))!.hex, node: "\(address):\(port)")
        }
        return ChunkRef(hash: hash.hex, length: Int(length), compressed: compressed == 1,
                        object: ObjectRef(dataShards: Int(k), parityShards: Int(m), sealedLength: Int(sealedLength),
                                          fragments: fragments))
    }

    private static func ipv4(_ node: String) -> ([UInt8], Int)? {
        guard let colon = node.lastIndex(of: ":"), let port = Int(node[node.index(after: colon)...]) else { return nil }
        let parts = node[..<colon].split(separator: ".").compactMap { UInt8($0) }
        return parts.count == 4 ? (parts, port) : nil
    }
}
