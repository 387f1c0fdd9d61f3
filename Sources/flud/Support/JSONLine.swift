/// One JSON object, built field by field in a fixed order (so output lines are
/// stable and diffable), for `--json` output.
struct JSONLine {
    private var fields: [String] = []

    func field(_ name: String, _ value: String) -> JSONLine {
        adding(name, quoted(value))
    }

    func field(_ name: String, _ value: Int) -> JSONLine {
        adding(name, String(value))
    }

    func field(_ name: String, _ value: Double) -> JSONLine {
        adding(name, value.isFinite ? "\(value)" : "null")
    }

    func field(_ name: String, _ value: Bool) -> JSONLine {
        adding(name, value ? "true" : "false")
    }

    var text: String { "{" + fields.joined(separator: ",") + "}" }

    private func adding(_ name: String, _ encodedValue: String) -> JSONLine {
        var copy = self
        copy.fields.append(quoted(name) + ":" + encodedValue)
        return copy
    }

    private func quoted(_ string: String) -> String {
        var result = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
