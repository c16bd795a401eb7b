/// Who a certificate or key file is now, as `stat(2)` tells it after following links: certbot renews by pointing
/// the links in `live/` at new files, so a renewal shows as another device/inode, size or modification time.
public struct FileIdentity: Equatable, Sendable, CustomStringConvertible {
    public var device: UInt64
    public var inode: UInt64
    public var size: Int64
    /// Modification time in nanoseconds since the epoch.
    public var modifiedNanoseconds: Int64

    public init(device: UInt64, inode: UInt64, size: Int64, modifiedNanoseconds: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.modifiedNanoseconds = modifiedNanoseconds
    }

    /// `device:inode:size:mtime_ns`, as `state.json` keeps it.
    public var description: String { "\(device):\(inode):\(size):\(modifiedNanoseconds)" }

    /// The form ``description`` writes; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }),
            let device = UInt64(parts[0]), let inode = UInt64(parts[1]), let size = Int64(parts[2]),
            let modified = Int64(parts[3])
        else { return nil }
        self.init(device: device, inode: inode, size: size, modifiedNanoseconds: modified)
    }
}

/// Tells the identity of a file (one `stat`, links followed). Nothing is read.
public protocol FileIdentityReader: Sendable {
    /// The identity of what `path` resolves to; nil when it cannot be told (missing, unreadable directory).
    func identity(of path: String) -> FileIdentity?
}

/// For engines that do not watch certificate files (tests of other things).
public struct NoFileIdentityReader: FileIdentityReader {
    public init() {}
    public func identity(of path: String) -> FileIdentity? { nil }
}

/// What the certificate and key files of a plan look like against the record of the ones last confirmed served.
struct CertificateFileCheck: Equatable, Sendable {
    /// Every watched file's identity now (files that cannot be stat'ed are left out).
    var current: [String: String]
    /// Files whose identity differs from the record (or that vanished): renewed, or replaced.
    var changed: [String]
    /// Files without a record (a state file from before this was kept): recorded now, nothing applied.
    var unknown: [String]
}

extension SyncEngine {
    /// The files a plan's TLS listeners are served from: certificate, key and (Apache) chain; none without an
    /// HTTPS listener. Sorted.
    func watchedCertificateFiles(_ plan: ProxyPlan) -> [String] {
        var files = Set<String>()
        for listener in plan.listeners where listener.scheme == .https {
            guard let pair = settings.proxy.certificatePair(for: listener.serverName, in: plan) else { continue }
            files.formUnion([pair.certificate, pair.key, pair.chain].compactMap { $0 })
        }
        return files.sorted()
    }

    /// One `stat` per watched file, compared with `recorded` (`state.json`'s `certificate_files`).
    func checkCertificateFiles(_ plan: ProxyPlan, recorded: [String: String]) -> CertificateFileCheck {
        var check = CertificateFileCheck(current: [:], changed: [], unknown: [])
        for path in watchedCertificateFiles(plan) {
            let now = certificateFiles.identity(of: path)?.description
            if let now { check.current[path] = now }
            guard let before = recorded[path] else {
                check.unknown.append(path)
                continue
            }
            if now != before { check.changed.append(path) }
        }
        return check
    }

    /// Records the identities of the files the proxy was just confirmed (or, with confirmation off, reloaded) to
    /// serve from.
    func recordServedCertificates(_ plan: ProxyPlan, in current: inout SyncState) {
        current.certificateFiles = checkCertificateFiles(plan, recorded: [:]).current
    }

    /// A certificate, key or chain file changed since the proxy was last confirmed serving it (renewed in place):
    /// pre-flight over the files as they are now, config test, reload, and confirm the new leaf is presented.
    /// The new identities are recorded only once that is confirmed; until then each cycle tries again (on the
    /// backoff schedule of `not_serving`).
    func renewCertificates(
        _ changed: [String], plan: ProxyPlan, text: String, dryRun: Bool, urls: SiteURLs, state current: inout SyncState,
        now: Timestamp
    ) async -> CycleOutcome {
        let files = changed.joined(separator: ",")
        let diff = "certificate renewed on disk: \(changed.joined(separator: ", "))"
        let report = await serving.preflight(plan)
        if dryRun {
            for notice in report.notices { log(notice) }
            if let refusal = report.refusals.first {
                return refuse(refusal, all: report.refusals, plan: plan, urls: urls, now: now)
            }
            return .dryRun(semanticDiff: diff + "; a reload is pending", unifiedDiff: "", changePending: true)
        }
        warnOnce(report.notices.filter { $0.event == .certificateExpiring }, state: &current, now: now)
        for notice in report.notices where notice.event != .certificateExpiring { log(notice) }
        if let refusal = report.refusals.first {
            return refuse(refusal, all: report.refusals, plan: plan, urls: urls, now: now)
        }
        let test = await proxy.test()
        if !test.succeeded {
            let output = test.output.isEmpty ? test.summary : test.output
            log(
                .error,
                "the proxy's config test fails with the renewed certificate; the proxy was not reloaded and keeps serving the previous one",
                .testFailed, ["file": "\(files)", "test": "\(test.summary)", "output": "\(output)"])
            return .testFailed(output: output)
        }
        log(
            .notice, "applied a renewed certificate", .applied,
            ["reason": "\(ApplyReason.certificate.rawValue)", "diff": "\(diff)", "file": "\(files)"])
        guard let reload = await reloadRunningProxy() else {
            current.serving = false
            logProxyNotRunning("the renewed certificate is not loaded")
            return .notServing("the proxy is not running")
        }
        if !reload.succeeded {
            current.reloadOwed = true
            current.serving = false
            log(
                .error, "the reload command failed; the reload will be retried next cycle", .reloadFailed,
                ["command": "\(reload.summary)", "output": "\(reload.output)"])
            return .reloadFailed(output: reload.output.isEmpty ? reload.summary : reload.output)
        }
        current.lastReloadAt = now.iso8601
        _ = memory.startConfirmationDue()  // this confirmation is the one a start owes
        if let confirmation = await confirm(plan, generation: Generation.of(text), state: &current, now: now),
            !confirmation.confirmed
        {
            log(
                .error,
                "the proxy does not present the renewed certificate after the reload; tried again on the backoff schedule",
                .notServing,
                ["file": "\(files)", "listener": "\(confirmation.failedListener ?? "")", "got": "\(confirmation.observed)"])
            return .notServing("\(confirmation.failedListener ?? "a listener"): \(confirmation.observed)")
        }
        log(.notice, "the proxy presents the renewed certificate", .certificateRenewed, ["file": "\(files)"])
        return .applied(reason: .certificate, diff: diff)
    }
}
