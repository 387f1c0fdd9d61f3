import Testing
@testable import FludBackup

struct RetrieveTimesTests {
    let start = ContinuousClock.now

    func at(_ seconds: Double) -> ContinuousClock.Instant { start + .seconds(seconds) }

    @Test func aNodeFourTimesSlowerThanTheMedianIsSlowOnlyAfterThreeRetrieves() {
        var times = RetrieveTimes()
        for round in 0..<3 {
            #expect(times.slow(at: at(Double(round))).isEmpty, "fewer than 3 retrieves each")
            times.note("fast", seconds: 0.010, bytes: 50_000, at: at(Double(round)))
            times.note("slow", seconds: 0.050, bytes: 50_000, at: at(Double(round)))
        }
        // Two nodes: the lower median is the fast one, so the slow one shows.
        #expect(times.slow(at: at(2)) == ["slow"])
    }

    @Test func sizesAreComparedPerByte() {
        var times = RetrieveTimes()
        for round in 0..<3 {
            // 15 times the bytes in 4.5 times the time: not slow.
            times.note("small", seconds: 0.010, bytes: 64 << 10, at: at(Double(round)))
            times.note("large", seconds: 0.045, bytes: 960 << 10, at: at(Double(round)))
            times.note("third", seconds: 0.010, bytes: 64 << 10, at: at(Double(round)))
        }
        #expect(times.slow(at: at(2)).isEmpty)
    }

    @Test func aSlowVerdictIsForgottenSoTheNodeIsMeasuredAgain() {
        var times = RetrieveTimes(memory: .seconds(5))
        for round in 0..<3 {
            for node in ["a", "b", "c"] { times.note(node, seconds: node == "c" ? 0.1 : 0.01, bytes: 0, at: at(Double(round))) }
        }
        #expect(times.slow(at: at(3)) == ["c"])
        // "c" is not asked for a while; the others keep answering.
        for round in 3..<9 {
            times.note("a", seconds: 0.01, bytes: 0, at: at(Double(round)))
            times.note("b", seconds: 0.01, bytes: 0, at: at(Double(round)))
        }
        #expect(times.slow(at: at(8)).isEmpty, "c's old average is forgotten after 5 s")
        // Measured anew: one fast answer starts a fresh average.
        for round in 9..<12 { times.note("c", seconds: 0.01, bytes: 0, at: at(Double(round))) }
        #expect(times.slow(at: at(11)).isEmpty)
    }
}
