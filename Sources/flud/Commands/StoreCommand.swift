import ArgumentParser
import FludStore

struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Inspect a node's block store (for operators).",
        subcommands: [StoreScrubCommand.self, StoreStatsCommand.self]
    )
}

struct StoreOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The node's data directory.", valueName: "dir"))
    var data: String

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func open() throws -> BlockStore {
        guard FileSystemCheck.isDirectory(data) else {
            throw Failure(kind: .runtime, description: "\(data) is not a directory")
        }
        return try BlockStore(directory: data)
    }
}

struct StoreScrubCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scrub",
        abstract: "Check every fragment's checksum and every index; report what is wrong.",
        discussion: "Exit status 0 when the store is clean, 1 when scrub found problems or could not run."
    )

    @OptionGroup var options: StoreOptions

    @Flag(help: "Also check each fragment against its key, a hash (slower).")
    var deep = false

    func run() throws {
        try reportingFailures {
            let store = try options.open()
            defer { store.close() }
            let report = try store.scrub(deep: deep)
            if options.json {
                print(JSONLine()
                    .field("fragments", report.fragmentsChecked)
                    .field("bytes", report.bytesChecked)
                    .field("corrupt", report.corruptFragments.count)
                    .field("unclaimed", report.unclaimedFragments.count)
                    .field("dangling_claims", report.danglingClaims.count)
                    .field("malformed_claims", report.malformedClaims)
                    .field("owner_accounting_errors", report.ownerAccountingErrors.count)
                    .field("clean", report.isClean)
                    .text)
            } else {
                print("checked \(report.fragmentsChecked) fragments, \(formatBytes(report.bytesChecked))")
                for key in report.corruptFragments { print("corrupt fragment \(key)") }
                for key in report.unclaimedFragments { print("unclaimed fragment \(key)") }
                for claim in report.danglingClaims { print("claim on a missing fragment: \(claim)") }
                if report.malformedClaims > 0 { print("\(report.malformedClaims) claims cannot be read") }
                for owner in report.ownerAccountingErrors { print("owner \(owner): recorded usage differs from its claims") }
                print(report.isClean ? "store is clean" : "store has problems")
            }
            if !report.isClean { throw ExitCode.failure }
        }
    }
}

struct StoreStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Print fragment counts, sizes and space used."
    )

    @OptionGroup var options: StoreOptions

    func run() throws {
        try reportingFailures {
            let store = try options.open()
            defer { store.close() }
            let statistics = try store.statistics()
            if options.json {
                print(JSONLine()
                    .field("fragments", statistics.fragments)
                    .field("fragment_bytes", statistics.fragmentBytes)
                    .field("claims", statistics.claims)
                    .field("owners", statistics.owners)
                    .field("used_bytes", statistics.usedBytes)
                    .field("map_bytes", statistics.mapSize)
                    .field("capacity_bytes", statistics.capacity)
                    .text)
            } else {
                print("fragments  \(statistics.fragments) (\(formatBytes(statistics.fragmentBytes)))")
                print("claims     \(statistics.claims) by \(statistics.owners) owners")
                print("data file  \(formatBytes(statistics.usedBytes)) used, map \(formatBytes(statistics.mapSize)), capacity \(formatBytes(statistics.capacity))")
            }
        }
    }
}
