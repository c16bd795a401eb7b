#if canImport(Glibc)
    import Glibc
#endif
import ProxySyncCore
import Testing

/// The README's events table and the catalogue in `Event` are one truth.
struct EventCatalogueTests {
    /// `| `name` | priority | meaning |` rows of the README's "### Events" table.
    static func readmeRows() throws -> [(String, String)] {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
        let readme = try #require(readFile(path + "/README.md"))
        guard let start = readme.firstRange(of: "### Events") else { return [] }
        var rows: [(String, String)] = []
        for line in readme[start.upperBound...].split(separator: "\n").dropFirst(2) {
            guard line.hasPrefix("| `") else { if !rows.isEmpty { break } else { continue } }
            let cells = line.split(separator: "|").map { $0.trimmingCharacters() }
            rows.append((String(cells[0].dropFirst().dropLast()), cells[1]))
        }
        return rows
    }

    @Test func theReadmeListsEveryEventWithItsPriority() throws {
        let rows = try Self.readmeRows()
        #expect(rows.map(\.0) .sorted() == Event.allCases.map(\.rawValue).sorted())
        for (name, priority) in rows {
            #expect(Event(rawValue: name)?.priority == priority, "\(name)")
        }
    }
}

/// The README's exit-code table and `ExitStatus` are one truth.
struct ExitStatusCatalogueTests {
    @Test func theReadmeListsEveryExitStatus() throws {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
        let readme = try #require(readFile(path + "/README.md"))
        let start = try #require(readme.firstRange(of: "### Exit codes"))
        var codes: [Int32] = []
        for line in readme[start.upperBound...].split(separator: "\n").dropFirst(3) {
            guard line.hasPrefix("| ") else { break }
            let cell = line.split(separator: "|").first.map { $0.trimmingCharacters() } ?? ""
            codes.append(try #require(Int32(cell), "\(line)"))
        }
        #expect(codes == ExitStatus.allCases.map(\.rawValue))
    }

    @Test func everyOutcomeExitsWithItsStatus() {
        #expect(CycleOutcome.unchanged.exitCode == 0)
        #expect(CycleOutcome.testFailed(output: "").exitStatus == .testFailed)
        #expect(CycleOutcome.notServing("").exitCode == 10)
    }
}

extension Substring {
    func trimmingCharacters() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}

func readFile(_ path: String) -> String? {
    #if canImport(Glibc)
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            out.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: out, as: UTF8.self)
    #else
        return nil
    #endif
}
