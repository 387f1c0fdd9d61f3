import ArgumentParser
import FludWire
#if canImport(Glibc)
import Glibc
#endif

/// A failure reported to the user as one sentence on standard error.
struct Failure: Error, CustomStringConvertible {
    enum Kind {
        /// The arguments make no sense: exit status 64 (EX_USAGE), as for unparsable ones.
        case usage
        /// The work could not be done: exit status 1.
        case runtime
    }

    let kind: Kind
    let description: String

    static func usage(_ message: String) -> Failure { Failure(kind: .usage, description: message) }
}

/// Runs a command's work and turns any error into one line on standard error
/// and the documented exit status, instead of a stack of details.
func reportingFailures(_ work: () throws -> Void) throws {
    do { try work() } catch { throw exitCode(reporting: error) }
}

/// The async form of ``reportingFailures(_:)``.
func reportingFailures(_ work: () async throws -> Void) async throws {
    do { try await work() } catch { throw exitCode(reporting: error) }
}

/// Prints `error` as one sentence and returns the exit status it deserves.
private func exitCode(reporting error: Error) -> ExitCode {
    switch error {
    case let code as ExitCode:
        return code
    case let error as WireError:
        printError("flud: \(error)")
        return ExitCode(FragmentExit.status(for: error))
    case let failure as Failure:
        printError("flud: \(failure.description)")
        return failure.kind == .usage ? .validationFailure : .failure
    default:
        printError("flud: \(error)")
        return .failure
    }
}

func printError(_ line: String) {
    writeStandardError(line + "\n")
}

/// Prints a line to standard output at once, unbuffered, for long-running
/// commands whose output is watched while they run.
func printNow(_ line: String) {
    write(line + "\n", to: STDOUT_FILENO)
}

/// Writes unbuffered to standard error (file descriptor 2).
func writeStandardError(_ text: String) {
    write(text, to: STDERR_FILENO)
}

private func write(_ text: String, to descriptor: Int32) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeMutableBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
        if written < 0, errno == EINTR { continue }
        guard written > 0 else { return }
        offset += written
    }
}

enum FileSystemCheck {
    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }
}
