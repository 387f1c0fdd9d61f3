import Foundation
import Testing
@_exported import FludTestSupport
@testable import FludCodec

/// Reads a JSON file from Tests/FludCodecTests/Vectors.
func loadVectors<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
    let url = try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Vectors"))
    return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
}

extension Array where Element == UInt8 {
    init(hex: String) {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        self = bytes
    }
}

extension StripeBuffer {
    func write(_ bytes: [UInt8], toShard index: Int) {
        precondition(bytes.count == shardLength)
        bytes.withUnsafeBytes { shard(index).copyMemory(from: $0) }
    }

    func read(shard index: Int) -> [UInt8] {
        Array(shard(index))
    }
}
