import ArgumentParser
import FludCodec

struct DecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Rebuild a file from any k of its fragment files.",
        discussion: """
            Give any k or more fragments, in any order; duplicates are ignored. \
            Corrupt, truncated or foreign fragments are reported on stderr and \
            spare fragments are used instead. The output is verified against the \
            SHA-256 recorded at encoding and appears only when complete; a failed \
            decode leaves no output file.
            """
    )

    @Option(name: .short, help: ArgumentHelp("Output file (default: the original name, in the current directory).", valueName: "out"))
    var output: String?

    @Flag(help: "Replace the output file if it exists.")
    var force = false

    @Argument(help: ArgumentHelp("Fragment files.", valueName: "fragment"))
    var fragments: [String]

    func run() throws {
        try reportingFailures {
            guard !fragments.isEmpty else { throw Failure.usage("give at least one fragment file") }
            let decoder = try FragmentFileDecoder(fragmentPaths: fragments, warn: { printError("flud: warning: \($0)") })
            let destination = output ?? decoder.header.fileName
            let progress = ProgressLine(label: "decoding")
            defer { progress.finish() }
            try decoder.decode(to: destination, overwrite: force, progress: progress.update)
            progress.finish()
            print("decoded \(destination) (\(decoder.header.fileLength) bytes, SHA-256 verified)")
        }
    }
}
