/// A set of shard indices in 0..<256, stored as a 256-bit mask.
///
/// It is the key of the decode-plan cache, so it must hash and compare without
/// allocating.
public struct ShardSet: Hashable, Sendable, Sequence {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    public init() {}

    public init<S: Sequence<Int>>(_ indices: S) {
        for index in indices { insert(index) }
    }

    /// The set 0..<count.
    public static func first(_ count: Int) -> ShardSet {
        ShardSet(0..<count)
    }

    public func contains(_ index: Int) -> Bool {
        precondition((0..<256).contains(index), "shard index out of range")
        return word(index >> 6) & (1 << UInt64(index & 63)) != 0
    }

    public mutating func insert(_ index: Int) {
        precondition((0..<256).contains(index), "shard index out of range")
        setWord(index >> 6, word(index >> 6) | (1 << UInt64(index & 63)))
    }

    public mutating func remove(_ index: Int) {
        precondition((0..<256).contains(index), "shard index out of range")
        setWord(index >> 6, word(index >> 6) & ~(1 << UInt64(index & 63)))
    }

    public var count: Int {
        words.0.nonzeroBitCount + words.1.nonzeroBitCount
            + words.2.nonzeroBitCount + words.3.nonzeroBitCount
    }

    public var isEmpty: Bool { count == 0 }

    /// The `limit` smallest members.
    public func prefix(_ limit: Int) -> ShardSet {
        var result = ShardSet()
        var taken = 0
        for index in self where taken < limit {
            result.insert(index)
            taken += 1
        }
        return result
    }

    /// Members of `self` that are not in `other`.
    public func subtracting(_ other: ShardSet) -> ShardSet {
        combined(with: other) { $0 & ~$1 }
    }

    /// Members of both `self` and `other`.
    public func intersection(_ other: ShardSet) -> ShardSet {
        combined(with: other) { $0 & $1 }
    }

    private func combined(with other: ShardSet, _ operation: (UInt64, UInt64) -> UInt64) -> ShardSet {
        var result = self
        result.words = (operation(words.0, other.words.0), operation(words.1, other.words.1),
                        operation(words.2, other.words.2), operation(words.3, other.words.3))
        return result
    }

    public static func == (lhs: ShardSet, rhs: ShardSet) -> Bool {
        lhs.words == rhs.words
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }

    public func makeIterator() -> Iterator { Iterator(set: self) }

    /// Visits members in increasing order.
    public struct Iterator: IteratorProtocol {
        fileprivate var set: ShardSet
        fileprivate var wordIndex = 0

        public mutating func next() -> Int? {
            while wordIndex < 4 {
                let bits = set.word(wordIndex)
                if bits != 0 {
                    let index = wordIndex << 6 + bits.trailingZeroBitCount
                    set.remove(index)
                    return index
                }
                wordIndex += 1
            }
            return nil
        }
    }

    private func word(_ i: Int) -> UInt64 {
        switch i {
        case 0: words.0
        case 1: words.1
        case 2: words.2
        default: words.3
        }
    }

    private mutating func setWord(_ i: Int, _ value: UInt64) {
        switch i {
        case 0: words.0 = value
        case 1: words.1 = value
        case 2: words.2 = value
        default: words.3 = value
        }
    }
}
