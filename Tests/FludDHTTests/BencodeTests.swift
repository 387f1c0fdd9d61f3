import FludTestSupport
import Testing
@testable import FludDHT

struct BencodeTests {
    let decoder = BencodeDecoder()

    func decode(_ text: String) throws(BencodeError) -> BencodeValue {
        try decoder.decode(Array(text.utf8))
    }

    func reason(_ text: String) -> BencodeError.Reason? {
        do {
            _ = try decode(text)
            return nil
        } catch {
            return error.reason
        }
    }

    @Test func decodesEveryKind() throws {
        #expect(try decode("i42e") == .integer(42))
        #expect(try decode("i-7e") == .integer(-7))
        #expect(try decode("i0e") == .integer(0))
        #expect(try decode("4:spam") == .string("spam"))
        #expect(try decode("0:") == .bytes([]))
        #expect(try decode("l4:spami3ee") == .list([.string("spam"), .integer(3)]))
        #expect(try decode("d3:cow3:moo4:spam4:eggse") == .dictionary(["cow": .string("moo"), "spam": .string("eggs")]))
        #expect(try decode("i9223372036854775807e") == .integer(.max))
    }

    @Test(arguments: ["d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
                      "d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re",
                      "d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
                      "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe"])
    func canonicalInputsRoundTrip(text: String) throws {
        #expect(try decode(text).encoded == Array(text.utf8))
    }

    @Test func refusesNonCanonicalIntegers() {
        #expect(reason("i03e") == .malformedInteger)
        #expect(reason("i-0e") == .malformedInteger)
        #expect(reason("ie") == .malformedInteger)
        #expect(reason("i-e") == .malformedInteger)
        #expect(reason("03:abc") == .malformedInteger)
        #expect(reason("i1.5e") == .unexpectedByte(UInt8(ascii: ".")))
        #expect(reason("i9223372036854775808e") == .integerOverflow)
        #expect(reason("99999999999999999999:x") == .integerOverflow)
    }

    @Test func refusesMalformedStructure() {
        #expect(reason("d4:spam4:eggs3:cow3:mooe") == .unsortedOrDuplicateKey)
        #expect(reason("d3:cow3:moo3:cow3:mooe") == .unsortedOrDuplicateKey)
        #expect(reason("di1e3:mooe") == .unexpectedByte(UInt8(ascii: "i")))
        #expect(reason("l4:spam") == .truncated)
        #expect(reason("5:spam") == .stringTooLong)
        #expect(reason("") == .truncated)
        #expect(reason("i1ei2e") == .trailingBytes)
        #expect(reason("x") == .unexpectedByte(UInt8(ascii: "x")))
    }

    @Test func boundsDepthSizeAndCount() {
        var decoder = BencodeDecoder()
        decoder.maximumDepth = 8
        #expect(throws: BencodeError.self) { try decoder.decode(Array((String(repeating: "l", count: 10) + String(repeating: "e", count: 10)).utf8)) }
        #expect(throws: Never.self) { try decoder.decode(Array((String(repeating: "l", count: 8) + String(repeating: "e", count: 8)).utf8)) }
        decoder.maximumLength = 100
        #expect(throws: BencodeError(reason: .tooLarge, offset: 100)) { try decoder.decode([UInt8](repeating: 0x30, count: 101)) }
        decoder.maximumValues = 10
        #expect(throws: BencodeError.self) { try decoder.decode(Array(("l" + String(repeating: "i1e", count: 20) + "e").utf8)) }
    }

    @Test func randomValuesRoundTrip() throws {
        var random = SplitMix64(seed: 44)
        for _ in 0..<500 {
            let value = randomValue(depth: 0, using: &random)
            #expect(try decoder.decode(value.encoded) == value)
        }
    }

    /// Random bytes and random mutations of valid messages: errors, never a crash.
    @Test func garbageNeverCrashes() {
        var random = SplitMix64(seed: 45)
        let valid = Array("d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe".utf8)
        for round in 0..<20_000 {
            var bytes = round % 2 == 0 ? random.bytes(Int.random(in: 0...200, using: &random)) : valid
            if round % 2 == 1 {
                for _ in 0..<Int.random(in: 1...6, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            }
            _ = try? decoder.decode(bytes)
            _ = try? KRPCMessage(decoding: bytes)
        }
    }

    func randomValue(depth: Int, using random: inout SplitMix64) -> BencodeValue {
        switch Int.random(in: 0..<(depth > 3 ? 2 : 4), using: &random) {
        case 0: return .integer(Int64.random(in: .min ... .max, using: &random) >> Int64.random(in: 0...63, using: &random))
        case 1: return .bytes(random.bytes(Int.random(in: 0...30, using: &random)))
        case 2: return .list((0..<Int.random(in: 0...5, using: &random)).map { _ in randomValue(depth: depth + 1, using: &random) })
        default:
            var dictionary = BencodeDictionary()
            for _ in 0..<Int.random(in: 0...5, using: &random) {
                dictionary[random.bytes(Int.random(in: 0...6, using: &random))] = randomValue(depth: depth + 1, using: &random)
            }
            return .dictionary(dictionary)
        }
    }
}

struct KRPCMessageTests {
    @Test func parsesAPingQuery() throws {
        let message = try KRPCMessage(decoding: Array("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe".utf8))
        #expect(message.transactionID == Array("aa".utf8))
        guard case let .query(method, arguments) = message.body else { Issue.record("not a query"); return }
        #expect(method == "ping")
        #expect(arguments["id"] == .string("abcdefghij0123456789"))
    }

    @Test func parsesAnError() throws {
        let message = try KRPCMessage(decoding: Array("d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee".utf8))
        #expect(message.body == .error(KRPCError(code: .generic, message: "A Generic Error Ocurred")))
    }

    @Test func encodesWhatItDecodes() throws {
        let message = KRPCMessage(transactionID: [0, 1],
                                  body: .query(method: "find_node", arguments: ["id": .bytes([UInt8](repeating: 1, count: 20)),
                                                                                "target": .bytes([UInt8](repeating: 2, count: 20))]),
                                  version: Array("FL01".utf8))
        #expect(try KRPCMessage(decoding: message.encoded) == message)
        let error = KRPCMessage(transactionID: [9], body: .error(.methodUnknown("frobnicate")))
        #expect(try KRPCMessage(decoding: error.encoded) == error)
    }

    @Test func malformedMessagesAreProtocolErrorsWithTheTransactionWhenKnown() {
        #expect(throws: KRPCDecodingError(transactionID: Array("aa".utf8), error: .protocolError("message type 'y' must be q, r or e"))) {
            try KRPCMessage(decoding: Array("d1:t2:aa1:y1:xe".utf8))
        }
        #expect(throws: KRPCDecodingError(transactionID: nil, error: .protocolError("missing transaction ID 't'"))) {
            try KRPCMessage(decoding: Array("d1:y1:qe".utf8))
        }
        #expect(throws: KRPCDecodingError.self) { try KRPCMessage(decoding: Array("le".utf8)) }
        #expect(throws: KRPCDecodingError.self) { try KRPCMessage(decoding: Array("d1:q4:ping1:t2:aa1:y1:qe".utf8)) }
    }
}
