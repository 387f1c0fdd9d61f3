extension BencodeValue {
    /// The canonical encoding (sorted keys, minimal integers).
    public var encoded: [UInt8] {
        var output: [UInt8] = []
        append(to: &output)
        return output
    }

    func append(to output: inout [UInt8]) {
        switch self {
        case let .integer(value):
            output.append(UInt8(ascii: "i"))
            output += String(value).utf8
            output.append(UInt8(ascii: "e"))
        case let .bytes(bytes):
            appendString(bytes, to: &output)
        case let .list(items):
            output.append(UInt8(ascii: "l"))
            for item in items { item.append(to: &output) }
            output.append(UInt8(ascii: "e"))
        case let .dictionary(dictionary):
            output.append(UInt8(ascii: "d"))
            for (key, value) in dictionary.entries {
                appendString(key, to: &output)
                value.append(to: &output)
            }
            output.append(UInt8(ascii: "e"))
        }
    }

    private func appendString(_ bytes: [UInt8], to output: inout [UInt8]) {
        output += String(bytes.count).utf8
        output.append(UInt8(ascii: ":"))
        output += bytes
    }
}
