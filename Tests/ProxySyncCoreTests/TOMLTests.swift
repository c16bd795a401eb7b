import Testing

@testable import ProxySyncCore

struct TOMLTests {
    func value(_ text: String) throws -> TOML.Value? {
        try TOML.parse("v = \(text)\n")[""]?["v"]?.value
    }

    func failure(_ text: String) -> TOML.SyntaxError? {
        do {
            _ = try TOML.parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        ("0", TOML.Value.integer(0)), ("-0", .integer(0)), ("+7", .integer(7)), ("1_000", .integer(1000)),
        ("-9223372036854775808", .integer(Int.min)), ("0.5", .float(0.5)), ("1e3", .float(1000)),
        ("-0.1", .float(-0.1)), ("1E-2", .float(0.01)), ("+1.5e+2", .float(150)), ("0e0", .float(0)),
        ("1_0.2_5", .float(10.25)),
    ])
    func acceptsNumbers(text: String, expected: TOML.Value) throws {
        #expect(try value(text) == expected)
    }

    @Test(arguments: [
        "1__0", "1_", "_1", "01", "+01", "-01", "00", "01.5", "1.", ".5", "1._5", "1e", "1e_3", "1e+", "+", "-",
        "0x10", "inf", "nan", "+inf", "1979-05-27", "9223372036854775808", "1e400", "1.5.2",
    ])
    func rejectsMalformedNumbers(text: String) {
        #expect(failure("v = \(text)\n") != nil, "accepted \(text)")
    }

    @Test(arguments: ["1e400", "-9e03741", "9223372036854775808", "-9223372036854775809"])
    func outOfRangeNumbersSaySo(text: String) {
        #expect(failure("v = \(text)\n")?.message == "the number is out of range")
    }

    @Test(arguments: [
        (#""\u00e9""#, "é"), (#""\U0001F600""#, "😀"), (#""\u0000x""#, "\u{0}x"), (#""\uFFFF""#, "\u{FFFF}"),
        (#""\U0010FFFF""#, "\u{10FFFF}"), (#""tab\there""#, "tab\there"), ("'tab\there'", "tab\there"),
        (#"'C:\no\escapes'"#, #"C:\no\escapes"#), ("\"caf\u{e9}\"", "café"),
    ])
    func readsStrings(text: String, expected: String) throws {
        #expect(try value(text) == .string(expected))
    }

    @Test(arguments: [
        (#""\u+0e9""#, "exactly 4 hexadecimal digits"), (#""\u-0e9""#, "exactly 4"), (#""\u0e9""#, "exactly 4"),
        (#""\u 0e9""#, "exactly 4"), (#""\U+0001F60""#, "exactly 8"), (#""\U0001F60""#, "exactly 8"),
        (#""\uD800""#, "surrogate"), (#""\uDFFF""#, "surrogate"), (#""\U0000D800""#, "surrogate"),
        (#""\U00110000""#, "above U+10FFFF"), (#""\UFFFFFFFF""#, "above U+10FFFF"), (#""\x41""#, "unknown escape"),
        ("\"a\u{7F}b\"", "control character U+007F in a string"), ("\"a\u{01}b\"", "U+0001"),
        ("'a\u{7F}b'", "control character U+007F in a string"), ("'a\u{00}b'", "U+0000"), ("'a\u{1F}b'", "U+001F"),
        ("'a\rb'", "U+000D"), ("\"a\rb\"", "U+000D"),
    ])
    func rejectsBadStrings(text: String, reason: String) {
        let error = failure("v = \(text)\n")
        #expect(error?.message.contains(reason) == true, "\(text): \(String(describing: error))")
        #expect(error?.line == 1)
    }

    @Test(arguments: [
        ("# \u{00}\n", 1), ("# a\u{7F}\n", 1), ("x = 1 # \u{08}\n", 1), ("\n# \u{1B}[31m\n", 2),
        ("x = [\n  1, # \u{0B}\n]\n", 2), ("# bare\rcr\n", 1),
    ])
    func rejectsControlCharactersInComments(text: String, line: Int) {
        let error = failure(text)
        #expect(error?.line == line, "\(String(describing: error))")
        #expect(error.map { $0.message.contains("control character") || $0.message.contains("carriage return") } == true)
    }

    @Test func allowsTabsAndUnicodeInComments() throws {
        let doc = try TOML.parse("# a\tb é 😀\nx = 1 #\tend\r\n# last")
        #expect(doc[""]?["x"]?.value == .integer(1))
    }

    @Test(arguments: ["x = 1\r", "x = 1\ry = 2\n", "x = [1,\r2]\n", "x = [1,\r\n2]\r", "\r", "[t]\r", "x = 1 # c\r"])
    func rejectsBareCarriageReturn(text: String) {
        #expect(failure(text)?.message.contains("carriage return") == true, "\(text.debugDescription)")
    }

    @Test func acceptsCRLF() throws {
        let doc = try TOML.parse("[t]\r\nx = [\r\n  1, # one\r\n  2,\r\n]\r\ny = 'z'\r\n")
        #expect(doc["t"]?["x"]?.value == .array([.integer(1), .integer(2)]))
        #expect(doc["t"]?["y"] == TOML.Entry(value: .string("z"), line: 6))
    }

    @Test(arguments: [
        ("x = 1\n[\"\"]\ny = 2\n", 2, "an empty table name is not used in this file"),
        ("[a]\nx = 1\n[a]\n", 3, "table [a] appears twice (first at line 1)"),
        ("[a]\n[\"a\"]\n", 2, "table [a] appears twice (first at line 1)"),
        ("[a]\nx = 1\nx = 2\n", 3, "key a.x appears twice (first at line 2)"),
        ("[a]\nx = 1\n\"x\" = 2\n", 3, "key a.x appears twice (first at line 2)"),
        ("x = [\n1]\nx = [\n2]\n", 3, "key x appears twice (first at line 1)"),
        ("gocd = 1\n[gocd]\nserver_url = 'x'\n", 2, "[gocd] is both a table and the key gocd at line 1"),
        ("\"t\" = 'v'\n[t]\n", 2, "[t] is both a table and the key t at line 1"),
    ])
    func rejectsDuplicates(text: String, line: Int, message: String) {
        let error = failure(text)
        #expect(error?.line == line, "\(String(describing: error))")
        #expect(error?.message == message, "\(String(describing: error))")
    }

    // Found by Tests/Fuzz/toml: a line break after a backslash, or a quoted key holding escapes, reached the
    // message raw, so one ConfigError spanned several log lines.
    @Test(arguments: [
        ("v = \"a\\\n\"\n", "unknown escape: a backslash followed by U+000A in a string"),
        ("v = \"a\\\u{01}\"\n", "unknown escape: a backslash followed by U+0001 in a string"),
        ("v = \"a\\\u{e9}\"\n", "unknown escape: a backslash followed by a non-ASCII character in a string"),
        ("\"a\\nb\" = 1\n\"a\\nb\" = 2\n", "key a\\nb appears twice (first at line 1)"),
        ("[\"t\\u0001\"]\n[\"t\\u0001\"]\n", "table [t\\x01] appears twice (first at line 1)"),
        ("\"k\\n\" x\n", "expected = after the key k\\n"),
        ("v = \"\\ \"\n", "unknown escape: a backslash followed by U+0020 in a string"),
        ("\"t\\n\" = 1\n[\"t\\n\"]\n", "[t\\n] is both a table and the key t\\n at line 1"),
    ])
    func messagesShowRawTextEscaped(text: String, message: String) {
        let error = failure(text)
        #expect(error?.message == message, "\(String(describing: error))")
        #expect(error?.message.contains("\n") == false)
    }

    @Test func keepsTopLevelKeysBeforeTables() throws {
        let doc = try TOML.parse("x = 1\n[a]\nx = 2\n[b]\n")
        #expect(doc[""]?["x"]?.value == .integer(1))
        #expect(doc["a"]?["x"]?.value == .integer(2))
        #expect(doc["b"] == [:])
    }

    @Test func nestingIsLimited() throws {
        let ok = String(repeating: "[", count: TOML.maximumDepth) + String(repeating: "]", count: TOML.maximumDepth)
        #expect(try value(ok) != nil)
        let tooDeep = "[" + ok + "]"
        #expect(failure("v = \(tooDeep)\n")?.message.contains("nested more than 64 levels") == true)
        // Far beyond the stack: refused at level 65, not a crash.
        let hostile = "v = " + String(repeating: "[", count: 200_000) + "\n"
        #expect(failure(hostile)?.message.contains("nested more than 64 levels") == true)
        let wide = "[" + String(repeating: "[1], ", count: 10_000) + "]\n"
        #expect(try value(wide).map { if case .array(let items) = $0 { items.count } else { 0 } } == 10_000)
    }

    @Test func nestedAndMultiLineArrays() throws {
        let doc = try TOML.parse("v = [ [1, 'a'], [], [[true, 0.5]], ] # c\nw = [\n  # only a comment\n]\n")
        #expect(
            doc[""]?["v"]?.value
                == .array([
                    .array([.integer(1), .string("a")]), .array([]), .array([.array([.boolean(true), .float(0.5)])]),
                ]))
        #expect(doc[""]?["w"]?.value == .array([]))
    }
}
