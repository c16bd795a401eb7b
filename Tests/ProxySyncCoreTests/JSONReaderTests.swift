import Testing

@testable import ProxySyncCore

/// RFC 8259 strictness of the reader (GoCD's answers and our state file).
struct JSONReaderTests {
    func parse(_ text: String) throws(JSON.ParseError) -> JSON { try JSON.parse(Array(text.utf8)) }

    @Test(arguments: [
        ("0", 0.0), ("-0", -0.0), ("0.5", 0.5), ("1e5", 1e5), ("1E+5", 1e5), ("-1.5e-3", -1.5e-3), ("10", 10),
        ("123.456e2", 12345.6), ("0e0", 0), ("1E-0", 1), ("9007199254740993", 9_007_199_254_740_992),
    ])
    func acceptsNumbers(text: String, expected: Double) throws {
        #expect(try parse(text) == .number(expected))
        #expect(try parse("[\(text)]") == .array([.number(expected)]))
    }

    @Test(arguments: [
        "+1", "01", "-01", "00", "1.", ".5", "2.e3", "-", "--1", "1e", "1e+", "1.5e", "0x10", "Infinity", "-Infinity",
        "NaN", "1e400", "-1e400", "1.0.0", "1e5e5", "- 1", "1_000", "[01]", "[1.]", "{\"a\": +1}",
    ])
    func rejectsMalformedNumbers(text: String) {
        #expect(throws: JSON.ParseError.self, "accepted \(text)") { try parse(text) }
    }

    @Test(arguments: [
        (#""\u00e9""#, "é"), (#""\uD83D\uDE00""#, "😀"), (#""\u0000""#, "\u{0}"), (#""a\/b""#, "a/b"),
        ("\"\u{7F}\"", "\u{7F}"),
    ])
    func readsEscapes(text: String, expected: String) throws {
        #expect(try parse(text) == .string(expected))
    }

    @Test(arguments: [
        #""\u+0e9""#, #""\u-0e9""#, #""\u0e9""#, #""\u 0e9""#, #""\uD800""#, #""\uDC00""#, #""\uD800x""#,
        #""\uD800\u0041""#, #""\uD800\uD800""#, #""\uDE00\uD83D""#, #""\uD83D\u+E00""#, #""\U0001F600""#,
        #""\x41""#, "\"\u{1F}\"", "\"\n\"", #""\"#, #""\uD83D\"#,
    ])
    func rejectsBadStrings(text: String) {
        #expect(throws: JSON.ParseError.self, "accepted \(text)") { try parse(text) }
    }

    @Test(arguments: [" 1", "1 ", "\t\r\n {\"a\" : [ 1 , 2 ] }\n\r\t ", "\n\"x\"\n", " true", "null "])
    func allowsSurroundingWhitespace(text: String) throws {
        _ = try parse(text)
    }

    @Test(arguments: [
        "1 2", "{} {}", "[]]", "\"a\"\"b\"", "true false", "null\u{0}", "1,", "{\"a\":1}}", "\u{FEFF}1",
        "\u{0B}1", "1\u{0C}",
    ])
    func rejectsTrailingGarbageAndOtherWhitespace(text: String) {
        #expect(throws: JSON.ParseError.self, "accepted \(text.debugDescription)") { try parse(text) }
    }

    @Test func nestingIsLimited() throws {
        let depth = JSON.maximumDepth
        let ok = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        _ = try parse(ok)
        #expect(throws: JSON.ParseError.self) { try parse("[" + ok + "]") }
        let objects = String(repeating: "{\"a\":", count: depth) + "1" + String(repeating: "}", count: depth)
        #expect(throws: JSON.ParseError.self) { try parse(objects) }
        _ = try parse(String(objects.dropFirst(5).dropLast()))
        // Far beyond the stack: refused at level 65, not a crash.
        for hostile in [String(repeating: "[", count: 200_000), String(repeating: "{\"a\":", count: 200_000)] {
            do {
                _ = try parse(hostile)
                Issue.record("accepted")
            } catch {
                #expect(error.reason.contains("nested more than 64 levels"))
            }
        }
    }
}
