import Foundation
import Testing

/// Bad arguments get one clear sentence on stderr and a non-zero exit.
struct ArgumentTests {
    @Test(arguments: [["-k", "0", "-m", "2"], ["-k", "200", "-m", "56"], ["-k", "3", "-m", "0"], ["-k", "300", "-m", "1"]])
    func impossibleCodesAreUsageErrors(code: [String]) async throws {
        let scratch = try Scratch()
        _ = try scratch.write("in", bytes: 10, seed: 1)
        let run = try await Flud.run(["encode"] + code + ["-o", scratch.path, scratch.file("in")])
        #expect(run.status == 64)
        #expect(run.stderr.hasPrefix("flud: k and m must be"))
        #expect(run.stderr.split(separator: "\n").count == 1)
        #expect(try scratch.listing() == ["in"])
    }

    @Test func unreadableInputIsReported() async throws {
        let scratch = try Scratch()
        let run = try await Flud.run(["encode", "-k", "2", "-m", "1", "-o", scratch.path, scratch.file("missing")])
        #expect(run.status == 1)
        #expect(run.stderr == "flud: cannot open \(scratch.file("missing")): No such file or directory\n")
    }

    @Test func aDirectoryIsNotAnInput() async throws {
        let scratch = try Scratch()
        let run = try await Flud.run(["encode", "-k", "2", "-m", "1", "-o", scratch.path, scratch.path])
        #expect(run.status == 1)
        #expect(run.stderr.contains("is not a regular file"))
    }

    @Test(arguments: ["missing-dir", "in"])
    func unusableOutputDirectoryIsReported(output: String) async throws {
        let scratch = try Scratch()
        _ = try scratch.write("in", bytes: 10, seed: 1)
        let run = try await Flud.run(["encode", "-k", "2", "-m", "1", "-o", scratch.file(output), scratch.file("in")])
        #expect(run.status == 1)
        #expect(run.stderr.hasPrefix("flud: cannot use output directory"))
        #expect(try scratch.listing() == ["in"])
    }

    @Test func decodeOfNonFragmentsFails() async throws {
        let scratch = try Scratch()
        _ = try scratch.write("junk", bytes: 500, seed: 3)
        let run = try await Flud.run(["decode", "-o", scratch.file("out"), scratch.file("junk"), scratch.file("nope")])
        #expect(run.status == 1)
        #expect(run.stderr.contains("not a flud fragment"))
        #expect(run.stderr.contains("No such file or directory"))
        #expect(run.stderr.hasSuffix("flud: none of the given files is a usable fragment\n"))
    }

    @Test func helpExplainsTheCommands() async throws {
        let run = try await Flud.run(["encode", "--help"])
        #expect(run.status == 0)
        #expect(run.stdout.contains("any k of them rebuild it"))
        #expect(try await Flud.run(["--help"]).stdout.contains("bench"))
    }
}
