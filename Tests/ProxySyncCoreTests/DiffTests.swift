import Testing

@testable import ProxySyncCore

struct DiffTests {
    @Test func semanticDiffNamesChanges() throws {
        let old = try Fixtures.plan("", "https://gocd.old.example", proxy: Fixtures.proxy(redirect: false)).listeners
        let new = try Fixtures.plan("", "https://gocd.example:8443", proxy: Fixtures.proxy(redirect: false)).listeners
        #expect(SemanticDiff.describe(from: old, to: new) == "server_name gocd.old.example → gocd.example; https port 443 → 8443")
    }

    @Test func semanticDiffAddsAndRemoves() throws {
        let old = try Fixtures.plan("http://a.example", "", proxy: Fixtures.proxy()).listeners
        let new = try Fixtures.plan("http://a.example", "https://a.example", proxy: Fixtures.proxy()).listeners
        let text = SemanticDiff.describe(from: old, to: new)
        #expect(text.contains("removed http listener a.example:80 (proxy)"))
        #expect(text.contains("added http listener a.example:80 (redirect to https://a.example)"))
        #expect(text.contains("added https listener a.example:443 (proxy)"))
        #expect(SemanticDiff.describe(from: new, to: new) == "no listener changes")
    }

    @Test func readsHandWrittenNginx() {
        let text = """
            server {
                listen 80;
                server_name Old.Example www.old.example;
                location / { proxy_pass http://127.0.0.1:8153; }
            }
            server {
                listen [::]:443 ssl http2;
                server_name old.example;
                ssl_certificate /x;
                location / {
                    proxy_pass http://127.0.0.1:8153;
                }
            }
            """
        let config = InstalledConfig.read(text, kind: .nginx)
        #expect(!config.isManaged)
        #expect(
            Set(config.listeners.map { "\($0.scheme.rawValue) \($0.serverName):\($0.port)" })
                == ["http old.example:80", "http www.old.example:80", "https old.example:443"])
    }

    @Test func unifiedDiffShowsChangedLines() {
        let diff = UnifiedDiff.make(old: "a\nb\nc\n", new: "a\nB\nc\n", oldName: "old", newName: "new")
        #expect(diff == "--- old\n+++ new\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n")
        #expect(UnifiedDiff.make(old: "", new: "x\n", oldName: "o", newName: "n") == "--- o\n+++ n\n@@ -0,0 +1,1 @@\n+x\n")
        #expect(UnifiedDiff.make(old: "same\n", new: "same\n", oldName: "o", newName: "n") == "")
    }
}
