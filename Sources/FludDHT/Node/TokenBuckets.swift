/// One token bucket per key (an IP address, a peer): each holds up to `burst`
/// tokens and regains `rate` tokens a second. Memory stays bounded: past
/// `capacity` keys, buckets that have refilled (and so remember nothing) are
/// forgotten, and if every one is still draining, all are.
///
/// Time is passed in (seconds), so the buckets are deterministic under test.
public struct TokenBuckets<Key: Hashable>: Sendable where Key: Sendable {
    public let rate: Double
    public let burst: Double
    public let capacity: Int
    private var buckets: [Key: (tokens: Double, at: Double)] = [:]

    public init(rate: Double, burst: Double, capacity: Int = 10_000) {
        self.rate = rate
        self.burst = burst
        self.capacity = capacity
    }

    /// Keys tracked now (at most `capacity`).
    public var count: Int { buckets.count }

    /// The tokens `key` has at `now` (`burst` for a key never seen).
    public func tokens(_ key: Key, now: Double) -> Double {
        guard let bucket = buckets[key] else { return burst }
        return min(burst, bucket.tokens + max(0, now - bucket.at) * rate)
    }

    /// Takes a token if `key` has one; false means it is over its rate.
    public mutating func take(_ key: Key, now: Double) -> Bool {
        let available = tokens(key, now: now)
        guard available >= 1 else { return false }
        set(key, available - 1, now: now)
        return true
    }

    /// Spends a token even if none is left: the key goes into debt, and
    /// `tokens` stays below 1 until it has paid it back.
    public mutating func spend(_ key: Key, now: Double) {
        set(key, tokens(key, now: now) - 1, now: now)
    }

    private mutating func set(_ key: Key, _ tokens: Double, now: Double) {
        if buckets[key] == nil, buckets.count >= capacity {
            buckets = buckets.filter { min(burst, $0.value.tokens + max(0, now - $0.value.at) * rate) < burst }
            if buckets.count >= capacity { buckets.removeAll(keepingCapacity: true) }
        }
        buckets[key] = (tokens, now)
    }
}
