import ArgumentParser
import FludCodec

struct EncodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Cut a file into k + m fragment files; any k of them rebuild it.",
        discussion: """
            Writes FILE.III_NNN.flud for every fragment index III of NNN = k + m. \
            Each fragment carries a header (k, m, its index, the file's length, name \
            and SHA-256) and a CRC-32C per stripe, so `flud decode` needs nothing \
            else. The file is processed a stripe at a time, so memory stays small \
            for files of any size. Fragments appear only once all are complete.
            """
    )

    @Option(name: .short, help: "Data fragments: any k fragments rebuild the file (1 ... 254).")
    var k: Int

    @Option(name: .short, help: "Parity fragments: the number of fragments that may be lost (1 ... 255 - k).")
    var m: Int

    @Option(name: .short, help: ArgumentHelp("Directory for the fragment files.", valueName: "dir"))
    var output: String = "."

    @Option(help: ArgumentHelp("File bytes per stripe (rounded up to a multiple of 64·k).", valueName: "bytes"))
    var stripeSize: Int = FragmentFileEncoder.defaultStripeSize

    @Flag(help: "Replace fragment files that already exist.")
    var force = false

    @Argument(help: ArgumentHelp("The file to encode.", valueName: "file"))
    var file: String

    func run() throws {
        try reportingFailures {
            guard k >= 1, m >= 1, k + m <= 255 else {
                throw Failure.usage("k and m must be at least 1 and k + m at most 255 (got k = \(k), m = \(m))")
            }
            guard stripeSize >= 1, stripeSize <= 1 << 30 else {
                throw Failure.usage("--stripe-size must be between 1 byte and 1 GiB (got \(stripeSize))")
            }
            let encoder = FragmentFileEncoder(code: try ReedSolomon(dataShards: k, parityShards: m),
                                              stripeSize: stripeSize)
            let progress = ProgressLine(label: "encoding")
            defer { progress.finish() }
            let paths = try encoder.encode(inputPath: file, outputDirectory: output, overwrite: force,
                                           progress: progress.update)
            progress.finish()
            print("wrote \(paths.count) fragments to \(output) (any \(k) rebuild \(file))")
        }
    }
}
