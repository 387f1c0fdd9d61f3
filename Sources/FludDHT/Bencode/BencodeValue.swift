/// A bencoded value (BEP 3), the payload format of every KRPC message.
///
/// Dictionaries keep their keys sorted by raw bytes, as the canonical encoding
/// requires; BEP 44 signs encoded values, so flud only ever reads and writes
/// the canonical form.
public enum BencodeValue: Hashable, Sendable {
    case integer(Int64)
    case bytes([UInt8])
    case list([BencodeValue])
    /// Keys in strictly increasing byte order.
    case dictionary(BencodeDictionary)

    public static func string(_ text: String) -> BencodeValue { .bytes(Array(text.utf8)) }

    public var integerValue: Int64? {
        if case let .integer(value) = self { return value }
        return nil
    }

    public var bytesValue: [UInt8]? {
        if case let .bytes(value) = self { return value }
        return nil
    }

    public var listValue: [BencodeValue]? {
        if case let .list(value) = self { return value }
        return nil
    }

    public var dictionaryValue: BencodeDictionary? {
        if case let .dictionary(value) = self { return value }
        return nil
    }
}

/// A bencode dictionary: byte-string keys in increasing byte order, no duplicates.
public struct BencodeDictionary: Hashable, Sendable, ExpressibleByDictionaryLiteral {
    /// Entries sorted by key.
    public private(set) var entries: [(key: [UInt8], value: BencodeValue)]

    public init() { entries = [] }

    public init(dictionaryLiteral elements: (String, BencodeValue)...) {
        entries = []
        for (key, value) in elements { self[key] = value }
    }

    public subscript(key: String) -> BencodeValue? {
        get { self[Array(key.utf8)] }
        set { self[Array(key.utf8)] = newValue }
    }

    public subscript(key: [UInt8]) -> BencodeValue? {
        get {
            let index = insertionIndex(of: key)
            return index < entries.count && entries[index].key == key ? entries[index].value : nil
        }
        set {
            let index = insertionIndex(of: key)
            let present = index < entries.count && entries[index].key == key
            switch (present, newValue) {
            case let (true, value?): entries[index].value = value
            case (true, nil): entries.remove(at: index)
            case let (false, value?): entries.insert((key, value), at: index)
            case (false, nil): break
            }
        }
    }

    public var count: Int { entries.count }

    /// Appends an entry whose key sorts after every key already present; the
    /// decoder's fast path, which it checks before calling.
    mutating func appendInOrder(key: [UInt8], value: BencodeValue) {
        entries.append((key, value))
    }

    private func insertionIndex(of key: [UInt8]) -> Int {
        var low = 0, high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].key.lexicographicallyPrecedes(key) { low = middle + 1 } else { high = middle }
        }
        return low
    }

    public static func == (lhs: BencodeDictionary, rhs: BencodeDictionary) -> Bool {
        lhs.entries.elementsEqual(rhs.entries) { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(entries.count)
        for (key, value) in entries {
            hasher.combine(key)
            hasher.combine(value)
        }
    }
}
