import Foundation
import Testing

/// The house rules, kept by reading the `Sources/` tree: no file over ``maximumLines`` lines, and one primary type
/// per file, named for it (README: How it is tested, Development).
///
/// A file that holds only extensions (`SyncEngine` steps, `LiveServingCheck+Preflight.swift`) has no primary type
/// of its own; `private` and `fileprivate` types are helpers, not primary. Each exception below names its file and
/// why it is one; an exception that no longer applies fails the test too, so that the list only shrinks.
struct HouseRulesTests {
    static let maximumLines = 350

    /// Files allowed past ``maximumLines`` for now.
    static let longFiles: [String: String] = [
        // Being changed on another branch now (the settings decoding); split after that merge.
        "ProxySyncCore/Settings/SettingsDecoder.swift": "split after the settings work merges",
        // The sync engine is being rebuilt as one transaction on another branch (issue 23, item 2); it was already
        // 356 lines when this test came, and is not to be edited here meanwhile.
        "ProxySyncCore/Sync/SyncEngine.swift": "split by the transaction work",
    ]

    /// Files that hold more than one primary type, or one not named for the file: the debt when this test came.
    static let typeExceptions: Set<String> = [
        "ProxySyncCore/Plan/PlanDeriver.swift",
        "ProxySyncCore/Plan/ProxyPlan.swift",
        "ProxySyncCore/Render/Generation.swift",
        "ProxySyncCore/Render/Renderer.swift",
        "ProxySyncCore/Settings/CertificatePair.swift",
        "ProxySyncCore/Settings/Settings.swift",
        "ProxySyncCore/Settings/SettingsDecoder.swift",
        "ProxySyncCore/Source/GoCDError.swift",
        "ProxySyncCore/Source/SiteURLs.swift",
        "ProxySyncCore/Sync/CertificateFiles.swift",
        "ProxySyncCore/Sync/CertificateRequests.swift",  // came with certificate_command (issue 25)
        "ProxySyncCore/Sync/Event.swift",
        "ProxySyncCore/Sync/Protocols.swift",
        "ProxySyncCore/Sync/StateDecoding.swift",
        "ProxySyncSystem/Commands/CommandRunner.swift",
        "ProxySyncSystem/Commands/StagedTest.swift",
        "ProxySyncSystem/Curl/CurlClient.swift",
        "ProxySyncSystem/Daemon/PollLoop.swift",
        "ProxySyncSystem/Files/FileConfigStore.swift",
        "ProxySyncSystem/Files/Posix.swift",
        "ProxySyncSystem/Files/RegularFile.swift",
        "ProxySyncSystem/Metrics/SyncMetrics.swift",
        "ProxySyncSystem/Systemd/ProxySyncLogHandler.swift",
        "ProxySyncSystem/Systemd/UnixDatagram.swift",
        "ProxySyncSystem/TLS/CertificateInspector.swift",
        "gocd-proxy-sync/Main.swift",
        "proxy-sync-bench/main.swift",
    ]

    static let sources = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources")

    /// Every Swift file under `Sources/`, by its path below it, with its text.
    static func swiftFiles() throws -> [(path: String, text: String)] {
        let root = sources.standardizedFileURL.path
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        var files: [(String, String)] = []
        for case let relative as String in walker where relative.hasSuffix(".swift") {
            files.append((relative, try String(contentsOfFile: root + "/" + relative, encoding: .utf8)))
        }
        return files.sorted { $0.0 < $1.0 }
    }

    static func lineCount(_ text: String) -> Int {
        text.isEmpty ? 0 : text.split(separator: "\n", omittingEmptySubsequences: false).count - (text.hasSuffix("\n") ? 1 : 0)
    }

    /// The names of the top-level types a file declares that are not `private` or `fileprivate`.
    static func primaryTypes(_ text: String) -> [String] {
        let kinds: Set<Substring> = ["struct", "enum", "class", "actor", "protocol"]
        var names: [String] = []
        for line in text.split(separator: "\n") where !line.hasPrefix(" ") && !line.hasPrefix("\t") && !line.hasPrefix("//") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == ":" || $0 == "<" || $0 == "{" })
            guard let kind = words.firstIndex(where: { kinds.contains($0) }), kind + 1 < words.count else { continue }
            let modifiers = words[..<kind]
            // Only attributes and modifiers before the keyword: `final class X`, `public struct X`, `@MainActor enum X`.
            guard modifiers.allSatisfy({ $0.hasPrefix("@") || ["public", "package", "internal", "final", "open", "private", "fileprivate", "indirect"].contains($0) })
            else { continue }
            if modifiers.contains("private") || modifiers.contains("fileprivate") { continue }
            names.append(String(words[kind + 1]))
        }
        return names
    }

    @Test func noSourceFileIsLongerThanTheLimit() throws {
        let files = try Self.swiftFiles()
        #expect(files.count > 50, "the Sources tree was found (\(Self.sources.path))")
        for (path, text) in files {
            let lines = Self.lineCount(text)
            if let why = Self.longFiles[path] {
                #expect(lines > Self.maximumLines, "\(path) is \(lines) lines now: remove its exception (\(why))")
                continue
            }
            #expect(lines <= Self.maximumLines, "\(path) has \(lines) lines, more than \(Self.maximumLines): split it")
        }
        for path in Self.longFiles.keys {
            #expect(files.contains { $0.path == path }, "the exception for \(path) names no file")
        }
    }

    @Test func oneFileOnePrimaryTypeNamedForIt() throws {
        let files = try Self.swiftFiles()
        for (path, text) in files {
            let base = String((path.split(separator: "/").last ?? "").dropLast(".swift".count))
            let types = Self.primaryTypes(text)
            // An extension file (`Type+Part.swift`) declares nothing of its own or helpers for `Type`'s part.
            let named = base.split(separator: "+").first.map(String.init) ?? base
            let follows = types.isEmpty || (types == [named] && !base.contains("+"))
            if Self.typeExceptions.contains(path) {
                #expect(!follows, "\(path) follows the rule now: remove it from the exceptions")
            } else {
                #expect(follows, "\(path) declares \(types): one primary type, named for the file (\(base))")
            }
        }
        for path in Self.typeExceptions {
            #expect(files.contains { $0.path == path }, "the exception for \(path) names no file")
        }
    }

    /// The rules' own reading of a file, so that a change to it does not pass everything.
    @Test func theRulesReadDeclarations() {
        let text = """
            import Glibc
            /// public struct Commented {}
            public struct First: Sendable {
                struct Nested {}
            }
            final class Second<T>: Sendable {}
            private enum Helper {}
            @usableFromInline package protocol Third {}
            extension First {}
            """
        #expect(Self.primaryTypes(text) == ["First", "Second", "Third"])
        #expect(Self.lineCount("a\nb\n") == 2 && Self.lineCount("a\nb") == 2 && Self.lineCount("") == 0)
    }
}
