import ArgumentParser
import FludCodec
import FludDHT
import Foundation

struct DHTPutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Store a BEP 44 item in the DHT and print its target.",
        discussion: """
            Without --key the value is an immutable item, found at SHA-1 of its \
            bencoding. With --key (a file holding a 32-byte Ed25519 seed, raw or \
            as 64 hex digits) it is a mutable item signed with that key, found at \
            SHA-1 of the public key and --salt; --seq defaults to one more than \
            the version already in the DHT.
            """
    )

    @OptionGroup var join: JoinOptions

    @Option(help: ArgumentHelp("The value, stored as a bencoded byte string (at most ~990 bytes).", valueName: "string"))
    var value: String

    @Option(help: ArgumentHelp("Sign with the Ed25519 seed in this file (makes a mutable item).", valueName: "keyfile"))
    var key: String?

    @Option(help: "Salt of a mutable item (at most 64 bytes).")
    var salt: String = ""

    @Option(help: "Sequence number of a mutable item.")
    var seq: Int64?

    @Flag(help: "Print a JSON object.")
    var json = false

    func run() async throws {
        try await reportingFailures {
            guard key != nil || (seq == nil && salt.isEmpty) else { throw Failure.usage("--salt and --seq need --key") }
            let signingKey = try key.map(loadSigningKey)
            let (item, stored) = try await join.withJoinedNode { node in
                var item = StoredItem(immutable: .string(value))
                if let signingKey {
                    let salt = Array(self.salt.utf8)
                    var sequence = seq
                    if sequence == nil {
                        let current = await node.get(StoredItem.target(publicKey: signingKey.publicKey, salt: salt), salt: salt)
                        sequence = (current?.mutable?.sequence ?? 0) + 1
                    }
                    item = StoredItem(value: .string(value), signedBy: signingKey, salt: salt, sequence: sequence!)
                }
                if let error = item.validate() { throw Failure(kind: .usage, description: error.message) }
                let stored = try await node.put(item)
                return (item, stored)
            }
            if json {
                var line = JSONLine().field("target", item.target.hex)
                if let mutable = item.mutable {
                    line = line.field("public_key", hexString(mutable.publicKey))
                }
                print(line.field("seq", Int(item.mutable?.sequence ?? 0)).field("nodes", stored).text)
            } else {
                print(item.target.hex)
            }
        }
    }
}

struct DHTGetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Get a BEP 44 item from the DHT and print its value.",
        discussion: "Give the target of an immutable item, or --public-key (and --salt) of a mutable one."
    )

    @OptionGroup var join: JoinOptions

    @Option(help: ArgumentHelp("Public key of a mutable item, 64 hex digits.", valueName: "hex"))
    var publicKey: String?

    @Option(help: "Salt of a mutable item.")
    var salt: String = ""

    @Flag(help: "Print {\"target\":…,\"v\":…,\"seq\":…}.")
    var json = false

    @Argument(help: ArgumentHelp("Target of an immutable item, 40 hex digits.", valueName: "target-hex"))
    var target: String?

    func run() async throws {
        try await reportingFailures {
            let salt = Array(self.salt.utf8)
            let targetID: NodeID
            switch (target, publicKey) {
            case let (target?, nil):
                guard let id = NodeID(hex: target) else { throw Failure.usage("the target must be 40 hexadecimal digits") }
                targetID = id
            case let (nil, key?):
                guard let bytes = hexBytes(key), bytes.count == 32 else { throw Failure.usage("--public-key must be 64 hexadecimal digits") }
                targetID = StoredItem.target(publicKey: bytes, salt: salt)
            default:
                throw Failure.usage("give either a target or --public-key")
            }
            let item = try await join.withJoinedNode { await $0.get(targetID, salt: salt) }
            guard let item else { throw Failure(kind: .runtime, description: "no item found at \(targetID.hex)") }
            let bytes = item.value.bytesValue ?? item.value.encoded
            if json {
                print(JSONLine().field("target", targetID.hex).field("v", String(decoding: bytes, as: UTF8.self))
                    .field("seq", Int(item.mutable?.sequence ?? 0)).text)
            } else {
                FileHandle.standardOutput.write(Data(bytes))
                if bytes.last != UInt8(ascii: "\n") { print() }
            }
        }
    }
}

/// The Ed25519 key in a file: 32 raw bytes, or 64 hexadecimal digits.
func loadSigningKey(_ path: String) throws -> SigningKey {
    guard let contents = FileManager.default.contents(atPath: path) else {
        throw Failure(kind: .runtime, description: "cannot read the key file \(path)")
    }
    let text = String(decoding: contents, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    let seed = contents.count == 32 ? Array(contents) : hexBytes(text)
    guard let seed, let key = SigningKey(seed: seed) else {
        throw Failure(kind: .runtime, description: "\(path) does not hold a 32-byte Ed25519 seed (raw or 64 hex digits)")
    }
    return key
}

func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

func hexBytes(_ text: String) -> [UInt8]? {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { return nil }
    var bytes: [UInt8] = []
    for index in stride(from: 0, to: digits.count, by: 2) {
        guard let byte = UInt8(String(decoding: digits[index...index + 1], as: UTF8.self), radix: 16) else { return nil }
        bytes.append(byte)
    }
    return bytes
}
