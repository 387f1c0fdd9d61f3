import Foundation
import Testing

struct BenchCommandTests {
    struct Line: Decodable {
        let op: String
        let k: Int
        let m: Int
        let bytes: Int
        let kernel: String
        let `default`: Bool
        let gbps: Double
    }

    @Test func jsonPrintsOneObjectPerMeasurement() async throws {
        let run = try await Flud.run(["bench", "codec", "--json", "-k", "4", "-m", "2", "--size", "65536"])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = try run.stdout.split(separator: "\n").map {
            try JSONDecoder().decode(Line.self, from: Data($0.utf8))
        }
        #expect(Set(lines.map(\.op)) == ["encode", "decode"])
        #expect(lines.allSatisfy { $0.k == 4 && $0.m == 2 && $0.bytes == 65536 && $0.gbps > 0 })
        #expect(lines.filter(\.default).count == 2)
    }

    @Test func tableMarksTheDefaultKernel() async throws {
        let run = try await Flud.run(["bench", "codec", "-k", "2", "-m", "1", "--size", "4096"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("2+1"))
        #expect(run.stdout.contains("*"))
    }

    @Test func pipelineReportsEveryStageAndTheWholeAsJSON() async throws {
        struct Stage: Decodable {
            let stage: String
            let threads: Int
            let bytes: Int
            let gbps: Double
        }
        let run = try await Flud.run(["bench", "pipeline", "--json", "--size", "4194304", "-k", "4", "-m", "2", "--chunk-size", "65536"])
        #expect(run.status == 0, "\(run.stderr)")
        let stages = try run.stdout.split(separator: "\n").map { try JSONDecoder().decode(Stage.self, from: Data($0.utf8)) }
        #expect(stages.map(\.stage) == ["chunk", "hash", "compress", "encrypt", "encode", "fragment_keys", "end_to_end"])
        #expect(stages.allSatisfy { $0.gbps > 0 })
        // 4 + 2 fragments hold 1.5 times the sealed bytes (more with padding).
        let encoded = try #require(stages.first { $0.stage == "encode" }).bytes
        #expect(try #require(stages.first { $0.stage == "fragment_keys" }).bytes >= encoded * 3 / 2)
        #expect(stages.last?.bytes == 4_194_304)
    }

    @Test func badOptionsAreRefused() async throws {
        #expect(try await Flud.run(["bench", "codec", "-k", "4"]).status == 64)
        #expect(try await Flud.run(["bench", "codec", "--kernel", "quantum"]).status == 64)
        #expect(try await Flud.run(["bench", "codec", "--size", "0"]).status == 64)
    }
}
