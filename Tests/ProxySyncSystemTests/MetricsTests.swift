import Glibc
import Logging
import ProxySyncCore
import ProxySyncSystem
import ProxySyncTestSupport
import Synchronization
import Testing

/// Keeps the records a logger receives.
final class CapturedLog: LogHandler, @unchecked Sendable {
    let records = Mutex<[(Logger.Level, String, Logger.Metadata)]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        records.withLock { $0.append((event.level, "\(event.message)", event.metadata ?? [:])) }
    }

    var logger: Logger { Logger(label: "test") { _ in self } }
    func count(_ level: Logger.Level, event: String) -> Int {
        records.withLock { $0.filter { $0.0 == level && $0.2["event"] == .string(event) }.count }
    }
}

/// A private directory under /tmp, removed with its files.
func temporaryDirectory() -> String {
    var template = Array("/tmp/gps-metrics-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
}

func removeTree(_ path: String) {
    if let dir = opendir(path) {
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { unlink("\(path)/\(name)") }
        }
        closedir(dir)
    }
    chmod(path, 0o755)
    rmdir(path)
}

func entries(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
}

func readText(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count == 0 { break }
        bytes += buffer[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// `name{labels} value` samples of an exposition, keyed by everything before the value.
func samples(_ text: String) -> [String: Double] {
    var result: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
            Issue.record("not a sample line: \(line)")
            continue
        }
        result[String(line[..<space])] = value
    }
    return result
}

@Suite struct MetricsTests {
    let now = Timestamp(epochSeconds: 1_800_000_000, iso8601: "2027-01-15T08:00:00Z")

    @Test func exposition_counts_outcomes_and_sets_gauges() throws {
        let log = CapturedLog()
        let exporter = MetricsExporter(textfile: nil, logger: log.logger)
        var state = SyncState()
        state.lastSuccessAt = "2026-01-01T00:00:00Z"
        exporter.prime(state)
        var text = String(decoding: exporter.exposition(), as: UTF8.self)
        #expect(samples(text)["gocd_proxy_sync_last_success_timestamp_seconds"] == 1_767_225_600)
        #expect(samples(text)["gocd_proxy_sync_cycles_total{outcome=\"gocd_error\"}"] == 0)

        state.lastChangeAt = now.iso8601
        state.serving = true
        exporter.metrics.observe(.applied(reason: .initial, diff: ""), state: state, now: now, cycleSeconds: 0.2)
        let later = Timestamp(epochSeconds: now.epochSeconds + 30, iso8601: "2027-01-15T08:00:30Z")
        exporter.metrics.observe(.unchanged, state: state, now: later, cycleSeconds: 0.01)
        exporter.metrics.observe(.nothingToDerive, state: state, now: later, cycleSeconds: 0.01)
        state.consecutiveFailures = 2
        state.reloadOwed = true
        state.serving = nil
        let failed = Timestamp(epochSeconds: now.epochSeconds + 60, iso8601: "2027-01-15T08:01:00Z")
        exporter.metrics.observe(.gocdError(.notFound), state: state, now: failed, cycleSeconds: 0.01)
        exporter.metrics.observe(.gocdError(.unexpectedStatus(500)), state: state, now: failed, cycleSeconds: 0.01)
        exporter.metrics.observe(
            .dryRun(semanticDiff: "", unifiedDiff: "", changePending: false), state: state, now: failed, cycleSeconds: 0)
        exporter.metrics.setCertificate(path: "/etc/ssl/gocd.pem", notAfter: 1_900_000_000)

        text = String(decoding: exporter.exposition(), as: UTF8.self)
        let values = samples(text)
        #expect(values["gocd_proxy_sync_cycles_total{outcome=\"applied\"}"] == 1)
        #expect(values["gocd_proxy_sync_cycles_total{outcome=\"unchanged\"}"] == 2)
        #expect(values["gocd_proxy_sync_cycles_total{outcome=\"gocd_error\"}"] == 2)
        #expect(values["gocd_proxy_sync_cycles_total{outcome=\"rejected\"}"] == 0)
        #expect(!values.keys.contains { $0.contains("dry_run") })
        #expect(values["gocd_proxy_sync_last_success_timestamp_seconds"] == Double(later.epochSeconds))
        #expect(values["gocd_proxy_sync_last_change_timestamp_seconds"] == Double(now.epochSeconds))
        #expect(values["gocd_proxy_sync_consecutive_failures"] == 2)
        #expect(values["gocd_proxy_sync_reload_owed"] == 1)
        #expect(values["gocd_proxy_sync_serving"] == nil, "serving is absent while unknown")
        #expect(values["gocd_proxy_sync_certificate_expiry_timestamp_seconds{path=\"/etc/ssl/gocd.pem\"}"] == 1_900_000_000)
        #expect(values["gocd_proxy_sync_apply_duration_seconds_count"] == 1)
        #expect(values["gocd_proxy_sync_apply_duration_seconds_bucket{le=\"0.25\"}"] == 1)
        #expect(values["gocd_proxy_sync_apply_duration_seconds_bucket{le=\"0.1\"}"] == 0)
        #expect(values.keys.contains { $0.hasPrefix("gocd_proxy_sync_build_info{version=") })
        #expect(text.contains("# HELP gocd_proxy_sync_cycles_total "))
        #expect(text.contains("# TYPE gocd_proxy_sync_cycles_total counter"))
        #expect(text.contains("# TYPE gocd_proxy_sync_gocd_request_duration_seconds histogram"))
    }

    @Test func gocd_requests_are_timed_through_the_decorator() async throws {
        let exporter = MetricsExporter(textfile: nil, logger: CapturedLog().logger)
        let fake = FakeSiteURLSource(SiteURLs(siteURL: "", secureSiteURL: ""))
        fake.set(.failure(.notFound))
        let source = TimedSiteURLSource(fake, timer: exporter.metrics.gocdRequestDuration)
        _ = try? await source.fetchSiteURLs()
        let values = samples(String(decoding: exporter.exposition(), as: UTF8.self))
        #expect(values["gocd_proxy_sync_gocd_request_duration_seconds_count"] == 1)
    }

    @Test func textfile_is_replaced_atomically_with_mode_0644_and_no_temporary_left() throws {
        let dir = temporaryDirectory()
        defer { removeTree(dir) }
        let path = "\(dir)/gocd-proxy-sync.prom"
        let exporter = MetricsExporter(textfile: path, logger: CapturedLog().logger)
        #expect(exporter.export())
        #expect(exporter.export())
        #expect(entries(dir) == ["gocd-proxy-sync.prom"])
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o644)
        #expect(readText(path)?.contains("gocd_proxy_sync_build_info{") == true)
        // A failure after the temporary file was created (the target is a directory: rename fails) leaves none.
        let blocked = "\(dir)/blocked.prom"
        mkdir(blocked, 0o755)
        defer { rmdir(blocked) }
        #expect(throws: StoreError.self) { try TextfileWriter.write(Array("x 1\n".utf8), to: blocked) }
        #expect(entries(dir) == ["blocked.prom", "gocd-proxy-sync.prom"])
    }

    /// The textfile's directory may be writable by another service: a link planted at the path must not make
    /// this root process replace the file it points to.
    @Test func a_link_at_the_textfile_is_replaced_not_followed() throws {
        let dir = temporaryDirectory()
        defer { removeTree(dir) }
        let victim = "\(dir)/victim.conf"
        let path = "\(dir)/gocd-proxy-sync.prom"
        #expect((try? AtomicFile.write(Array("keep me\n".utf8), to: victim)) != nil)
        #expect(symlink(victim, path) == 0)
        let exporter = MetricsExporter(textfile: path, logger: CapturedLog().logger)
        #expect(exporter.export())
        #expect(readText(victim) == "keep me\n")
        var info = stat()
        #expect(lstat(path, &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFREG, "the link itself was replaced by the textfile")
        #expect(readText(path)?.contains("gocd_proxy_sync_build_info{") == true)
    }

    /// A directory on the way swapped for a link (by whoever owns its parent) is refused, not followed.
    @Test func a_directory_on_the_way_that_is_a_link_is_not_followed() throws {
        let dir = temporaryDirectory()
        defer { removeTree(dir) }
        let elsewhere = "\(dir)/elsewhere"
        mkdir(elsewhere, 0o755)
        defer {
            unlink("\(elsewhere)/gocd-proxy-sync.prom")
            rmdir(elsewhere)
        }
        #expect(symlink(elsewhere, "\(dir)/node-exporter") == 0)
        let log = CapturedLog()
        let exporter = MetricsExporter(textfile: "\(dir)/node-exporter/gocd-proxy-sync.prom", logger: log.logger)
        #expect(!exporter.export())
        #expect(entries(elsewhere).isEmpty, "nothing was written through the link")
        #expect(log.count(.warning, event: "write_failed") == 1)
    }

    /// The directory is kept open between writes, but never written through once its path names another.
    @Test func a_directory_moved_away_and_made_again_gets_the_next_write() throws {
        let dir = temporaryDirectory()
        defer { removeTree(dir) }
        let textdir = "\(dir)/node-exporter"
        let moved = "\(dir)/moved"
        mkdir(textdir, 0o755)
        let exporter = MetricsExporter(textfile: "\(textdir)/gocd-proxy-sync.prom", logger: CapturedLog().logger)
        #expect(exporter.export())
        #expect(rename(textdir, moved) == 0)
        mkdir(textdir, 0o755)
        defer {
            for d in [textdir, moved] {
                unlink("\(d)/gocd-proxy-sync.prom")
                rmdir(d)
            }
        }
        unlink("\(moved)/gocd-proxy-sync.prom")
        #expect(exporter.export())
        #expect(entries(textdir) == ["gocd-proxy-sync.prom"])
        #expect(entries(moved).isEmpty, "nothing was written into the moved directory")
    }

    @Test func an_unwritable_textfile_is_one_warning_and_no_temporary() throws {
        let dir = temporaryDirectory()
        defer { removeTree(dir) }
        let log = CapturedLog()
        let missing = MetricsExporter(textfile: "\(dir)/missing/x.prom", logger: log.logger)
        #expect(!missing.export())
        #expect(!missing.export())
        missing.cycleFinished(.unchanged, state: SyncState(), now: now, cycleSeconds: 0, certificate: nil)
        #expect(log.count(.warning, event: "write_failed") == 1)
        let warning = log.records.withLock { $0.first { $0.0 == .warning }?.1 } ?? ""
        #expect(warning.contains("\(dir)/missing/x.prom"))
        #expect(warning.contains("ReadWritePaths="))

        // A directory nobody may create files in: /proc even for root; a 0555 directory for anyone else.
        let readOnly = "\(dir)/ro"
        mkdir(readOnly, 0o555)
        let denied = MetricsExporter(
            textfile: geteuid() == 0 ? "/proc/gocd-proxy-sync-test.prom" : "\(readOnly)/x.prom", logger: log.logger)
        #expect(!denied.export())
        #expect(!denied.export())
        #expect(log.count(.warning, event: "write_failed") == 2, "one per exporter, i.e. per process start")
        #expect(entries(readOnly).isEmpty)
        #expect(entries(dir) == ["ro"])
    }

    @Test func certificate_expiry_is_read_again_when_the_file_changes() throws {
        let fixture = try CertificateFixture()
        let (certificate, _) = try fixture.certificate("server", days: 30)
        let exporter = MetricsExporter(textfile: fixture.path("metrics.prom"), logger: CapturedLog().logger)
        let key = "gocd_proxy_sync_certificate_expiry_timestamp_seconds{path=\"\(certificate)\"}"
        func expiry() -> Double? { samples(String(decoding: exporter.exposition(), as: UTF8.self))[key] }

        exporter.cycleFinished(.unchanged, state: SyncState(), now: now, cycleSeconds: 0, certificate: certificate)
        let first = try #require(expiry())
        #expect(abs(first - Double(ProxySyncSystemTests.now() + 30 * 86_400)) < 120)
        try fixture.certificate("server", days: 10)
        exporter.cycleFinished(.unchanged, state: SyncState(), now: now, cycleSeconds: 0, certificate: certificate)
        #expect(abs(try #require(expiry()) - (first - 20 * 86_400)) < 120, "a new mtime means a new reading")

        exporter.cycleFinished(.unchanged, state: SyncState(), now: now, cycleSeconds: 0, certificate: "/nonexistent/c.pem")
        let values = samples(String(decoding: exporter.exposition(), as: UTF8.self))
        #expect(!values.keys.contains { $0.hasPrefix("gocd_proxy_sync_certificate_expiry") }, "absent when unreadable")
    }

    @Test func nothing_is_recorded_while_metrics_are_turned_off() {
        let exporter = MetricsExporter(textfile: nil, logger: CapturedLog().logger)
        exporter.cycleFinished(
            .applied(reason: .initial, diff: ""), state: SyncState(), now: now, cycleSeconds: 0, certificate: nil)
        #expect(
            samples(String(decoding: exporter.exposition(), as: UTF8.self))["gocd_proxy_sync_cycles_total{outcome=\"applied\"}"]
                == 0)
    }
}
