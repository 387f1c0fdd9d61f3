import Foundation

/// An SVG of recovery results: restorability against the fraction of nodes
/// killed, measured (points) and predicted (dashed), and restore and repair
/// times against it, one colour per code.
enum RecoveryPlot {
    static func svg(_ results: [RecoveryBenchmark.Result]) -> String {
        let codes = Array(Set(results.map { "\($0.plan.dataShards)+\($0.plan.parityShards)" })).sorted {
            $0.split(separator: "+").map { Int($0)! }.lexicographicallyPrecedes($1.split(separator: "+").map { Int($0)! })
        }
        let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
        let maxKill = max(0.1, results.map(\.plan.kill).max() ?? 0.7)
        let maxSeconds = max(0.1, results.map { max($0.restoreSeconds, $0.repairSeconds) }.max() ?? 1)
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="960" height="420" font-family="sans-serif" font-size="12">
            <rect width="960" height="420" fill="white"/>

            """
        // Two panels: (x0, y0) is the plot area's top left, 380 × 300.
        func panel(_ x0: Double, title: String, yLabel: String, yMax: Double) {
            svg += "<text x=\"\(x0 + 190)\" y=\"30\" text-anchor=\"middle\" font-size=\"14\">\(title)</text>\n"
            svg += "<rect x=\"\(x0)\" y=\"50\" width=\"380\" height=\"300\" fill=\"none\" stroke=\"black\"/>\n"
            for step in 0...4 {
                let y = 350 - Double(step) * 75
                let value = yMax * Double(step) / 4
                svg += "<text x=\"\(x0 - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(format(value))</text>\n"
                svg += "<line x1=\"\(x0)\" y1=\"\(y)\" x2=\"\(x0 + 380)\" y2=\"\(y)\" stroke=\"#ddd\"/>\n"
            }
            for step in 0...7 {
                let fraction = maxKill * Double(step) / 7
                let x = x0 + 380 * fraction / maxKill
                svg += "<text x=\"\(x)\" y=\"368\" text-anchor=\"middle\">\(format(fraction))</text>\n"
            }
            svg += "<text x=\"\(x0 + 190)\" y=\"390\" text-anchor=\"middle\">fraction of nodes killed</text>\n"
            svg += "<text x=\"\(x0 - 45)\" y=\"200\" text-anchor=\"middle\" transform=\"rotate(-90 \(x0 - 45) 200)\">\(yLabel)</text>\n"
        }
        func point(_ x0: Double, _ kill: Double, _ value: Double, _ yMax: Double) -> String {
            "\(format(x0 + 380 * kill / maxKill)),\(format(350 - 300 * value / yMax))"
        }
        panel(80, title: "files restorable (points) and binomial prediction (dashed)", yLabel: "fraction", yMax: 1)
        panel(560, title: "restore (solid) and repair (dotted) time", yLabel: "seconds", yMax: maxSeconds)
        for (index, code) in codes.enumerated() {
            let colour = colours[index % colours.count]
            let runs = results.filter { "\($0.plan.dataShards)+\($0.plan.parityShards)" == code }.sorted { $0.plan.kill < $1.plan.kill }
            let predicted = runs.map { point(80, $0.plan.kill, $0.predicted, 1) }.joined(separator: " ")
            svg += "<polyline points=\"\(predicted)\" fill=\"none\" stroke=\"\(colour)\" stroke-dasharray=\"6 4\"/>\n"
            for run in runs {
                let xy = point(80, run.plan.kill, run.restorable, 1).split(separator: ",")
                svg += "<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"4\" fill=\"\(colour)\"/>\n"
            }
            svg += "<polyline points=\"\(runs.map { point(560, $0.plan.kill, $0.restoreSeconds, maxSeconds) }.joined(separator: " "))\" fill=\"none\" stroke=\"\(colour)\"/>\n"
            svg += "<polyline points=\"\(runs.map { point(560, $0.plan.kill, $0.repairSeconds, maxSeconds) }.joined(separator: " "))\" fill=\"none\" stroke=\"\(colour)\" stroke-dasharray=\"2 3\"/>\n"
            svg += "<text x=\"\(100 + index * 90)\" y=\"412\" fill=\"\(colour)\">■ \(code)</text>\n"
        }
        return svg + "</svg>\n"
    }

    private static func format(_ value: Double) -> String {
        String((value * 100).rounded() / 100)
    }
}

extension RecoveryBenchmark.Result {
    /// A result read back from one of `--json`'s lines, for `--replot`; nil
    /// when a field the plot needs is missing.
    init?(jsonLine: Substring) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(jsonLine.utf8)) as? [String: Any],
              let nodes = object["nodes"] as? Int, let k = object["k"] as? Int, let m = object["m"] as? Int,
              let kill = object["kill"] as? Double, let loss = object["loss"] as? Double,
              let restorable = object["restorable"] as? Double, let predicted = object["predicted"] as? Double,
              let restore = object["restore_s"] as? Double, let repair = object["repair_s"] as? Double
        else { return nil }
        func number(_ name: String) -> Double { object[name] as? Double ?? 0 }
        func count(_ name: String) -> Int { object[name] as? Int ?? 0 }
        let plan = RecoveryBenchmark.Plan(nodes: nodes, dataShards: k, parityShards: m, kill: kill,
                                          killModel: (object["kill_model"] as? String).flatMap(RecoveryBenchmark.KillModel.init) ?? .independent,
                                          racks: count("racks"), loss: loss, draws: max(1, count("draws")), lookups: 0, files: 0, fileSize: 0)
        let lookups = count("dht_lookups")
        self.init(plan: plan, killed: number("killed"), restorable: restorable, chunksRestorable: number("chunks_restorable"),
                  predicted: predicted, predictedSD: number("predicted_sd"), chunks: 0, backupSeconds: number("backup_s"),
                  restoreSeconds: restore, repairSeconds: repair, bytesFetched: count("bytes_fetched"),
                  fragmentsRebuilt: count("fragments_rebuilt"), repairBytes: count("repair_bytes"),
                  lookupSuccesses: Int((number("dht_success") * Double(lookups)).rounded()), lookups: lookups,
                  lookupMedian: number("dht_lookup_ms") / 1000, lookupP95: number("dht_lookup_p95_ms") / 1000)
    }
}
