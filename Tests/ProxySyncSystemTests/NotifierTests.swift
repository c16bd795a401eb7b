@testable import ProxySyncSystem
import Testing

/// STATUS= must stay one line whatever the status text holds (a GoCD error message, say).
struct NotifierLineTests {
    @Test func statusIsKeptOnOneLine() {
        #expect(SystemdNotifier.oneLine("in sync with https://gocd.example.com") == "in sync with https://gocd.example.com")
        #expect(SystemdNotifier.oneLine("a\nb\rc\r\nd") == "a b c d")
    }
}
