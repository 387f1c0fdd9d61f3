/// Why a packet is not acceptable bencode. Each case names the byte offset
/// where decoding stopped, for logs; a DHT node answers such packets with a
/// protocol error (203) or drops them.
public struct BencodeError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        case truncated
        case tooLarge
        case tooDeep
        case unexpectedByte(UInt8)
        case malformedInteger
        case integerOverflow
        case stringTooLong
        case unsortedOrDuplicateKey
        case trailingBytes
    }

    public let reason: Reason
    public let offset: Int

    public var description: String { "invalid bencode at byte \(offset): \(reason)" }
}

/// A strict, bounded bencode decoder.
///
/// Strict: integers in canonical form only (no leading zeros, no `-0`, no
/// empty), dictionary keys strictly increasing, nothing after the value.
/// Bounded: input size, nesting depth and element count are capped, so a
/// hostile packet costs at most linear time and memory in its own size.
public struct BencodeDecoder: Sendable {
    /// Largest input accepted. A DHT packet fits in one UDP datagram.
    public var maximumLength = 64 << 10
    /// Deepest nesting of lists and dictionaries.
    public var maximumDepth = 32
    /// Most values in one input (bounds the work a crafted packet can cause).
    public var maximumValues = 4096

    public init() {}

    public func decode(_ bytes: some Collection<UInt8>) throws(BencodeError) -> BencodeValue {
        let input = Array(bytes)
        guard input.count <= maximumLength else { throw BencodeError(reason: .tooLarge, offset: maximumLength) }
        var parser = Parser(input: input, maximumDepth: maximumDepth, maximumValues: maximumValues)
        let value = try parser.value(depth: 0)
        guard parser.offset == input.count else { throw BencodeError(reason: .trailingBytes, offset: parser.offset) }
        return value
    }

    private struct Parser {
        let input: [UInt8]
        let maximumDepth: Int
        var valuesLeft: Int
        var offset = 0

        init(input: [UInt8], maximumDepth: Int, maximumValues: Int) {
            self.input = input
            self.maximumDepth = maximumDepth
            valuesLeft = maximumValues
        }

        mutating func value(depth: Int) throws(BencodeError) -> BencodeValue {
            guard depth <= maximumDepth else { throw fail(.tooDeep) }
            valuesLeft -= 1
            guard valuesLeft >= 0 else { throw fail(.tooLarge) }
            switch try peek() {
            case UInt8(ascii: "i"):
                offset += 1
                return .integer(try integer(until: UInt8(ascii: "e")))
            case UInt8(ascii: "l"):
                offset += 1
                var items: [BencodeValue] = []
                while try peek() != UInt8(ascii: "e") { items.append(try value(depth: depth + 1)) }
                offset += 1
                return .list(items)
            case UInt8(ascii: "d"):
                offset += 1
                var dictionary = BencodeDictionary()
                var previousKey: [UInt8]?
                while try peek() != UInt8(ascii: "e") {
                    let keyOffset = offset
                    let key = try string()
                    if let previousKey, !previousKey.lexicographicallyPrecedes(key) {
                        throw BencodeError(reason: .unsortedOrDuplicateKey, offset: keyOffset)
                    }
                    dictionary.appendInOrder(key: key, value: try value(depth: depth + 1))
                    previousKey = key
                }
                offset += 1
                return .dictionary(dictionary)
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                return .bytes(try string())
            case let byte:
                throw fail(.unexpectedByte(byte))
            }
        }

        /// `<length>:<bytes>`
        mutating func string() throws(BencodeError) -> [UInt8] {
            guard case UInt8(ascii: "0")...UInt8(ascii: "9") = try peek() else { throw fail(.unexpectedByte(try peek())) }
            let length = try integer(until: UInt8(ascii: ":"))
            guard length >= 0 else { throw fail(.malformedInteger) }
            guard length <= input.count - offset else { throw fail(.stringTooLong) }
            let bytes = Array(input[offset..<offset + Int(length)])
            offset += Int(length)
            return bytes
        }

        /// Digits with an optional minus sign, in canonical form, up to `terminator`.
        mutating func integer(until terminator: UInt8) throws(BencodeError) -> Int64 {
            let start = offset
            var negative = false
            if try peek() == UInt8(ascii: "-") {
                negative = true
                offset += 1
            }
            let digitsStart = offset
            var magnitude: Int64 = 0
            while true {
                let byte = try peek()
                if byte == terminator { break }
                guard case UInt8(ascii: "0")...UInt8(ascii: "9") = byte else { throw fail(.unexpectedByte(byte)) }
                let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
                guard !overflow1, !overflow2 else { throw BencodeError(reason: .integerOverflow, offset: start) }
                magnitude = sum
                offset += 1
            }
            let digits = offset - digitsStart
            let leadingZero = digits > 1 && input[digitsStart] == UInt8(ascii: "0")
            guard digits > 0, !leadingZero, !(negative && magnitude == 0) else {
                throw BencodeError(reason: .malformedInteger, offset: start)
            }
            offset += 1
            return negative ? -magnitude : magnitude
        }

        func peek() throws(BencodeError) -> UInt8 {
            guard offset < input.count else { throw fail(.truncated) }
            return input[offset]
        }

        func fail(_ reason: BencodeError.Reason) -> BencodeError {
            BencodeError(reason: reason, offset: offset)
        }
    }
}
