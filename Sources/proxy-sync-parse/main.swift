// proxy-sync-parse: the program's own TOML and JSON readers on stdin, for Tests/integration/test_parsers_differential.py.
//
//   proxy-sync-parse toml < FILE   prints the document as JSON, every value tagged the toml-test way:
//                                  {"type": "integer", "value": "42"}; tables are objects, top-level keys at the root
//   proxy-sync-parse json < FILE   prints the value as JSON
// On a syntax error prints `ERROR line N: message` (TOML) or `ERROR offset N: reason` (JSON) and exits 1.
// A test tool only: not installed, not part of the product.
import Glibc
import ProxySyncCore

func readStandardInput() -> [UInt8] {
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = read(0, &buffer, buffer.count)
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { return out }
        out.append(contentsOf: buffer[0..<count])
    }
}

func tagged(_ value: TOML.Value) -> JSON {
    func tag(_ type: String, _ text: String) -> JSON { .object(["type": .string(type), "value": .string(text)]) }
    switch value {
    case .string(let text): return tag("string", text)
    case .integer(let number): return tag("integer", String(number))
    case .float(let number): return tag("float", "\(number)")
    case .boolean(let flag): return tag("bool", flag ? "true" : "false")
    case .array(let items): return .array(items.map(tagged))
    }
}

func fail(_ text: String) -> Never {
    print("ERROR \(text)")
    exit(1)
}

let arguments = CommandLine.arguments
guard arguments.count == 2, arguments[1] == "toml" || arguments[1] == "json" else {
    let usage = Array("usage: proxy-sync-parse toml|json < FILE\n".utf8)
    _ = usage.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(2)
}
let bytes = readStandardInput()
if arguments[1] == "json" {
    do {
        print(try JSON.parse(bytes).serialized())
    } catch {
        fail("offset \(error.offset): \(error.reason)")
    }
} else {
    // As Bootstrap.loadSettings: the file must be UTF-8 before the reader sees it.
    guard let text = String(validating: bytes, as: UTF8.self) else { fail("line 0: not valid UTF-8 text") }
    do {
        var root: [String: JSON] = [:]
        for (table, entries) in try TOML.parse(text) {
            let members = entries.mapValues { tagged($0.value) }
            if table.isEmpty {
                root.merge(members) { first, _ in first }
            } else {
                root[table] = .object(members)
            }
        }
        print(JSON.object(root).serialized())
    } catch {
        fail("line \(error.line): \(error.message)")
    }
}
