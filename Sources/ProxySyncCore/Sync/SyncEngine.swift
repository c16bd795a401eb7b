import Logging

/// One sync cycle: fetch → derive → render → diff → apply → record, over small protocols.
///
/// The caller holds the lock and passes the time; the engine performs no I/O of its own.
public struct SyncEngine: Sendable {
    public var settings: Settings
    public var source: any SiteURLSource
    public var store: any ConfigStore
    public var proxy: any ProxyControl
    public var state: any StateStore
    public var logger: Logger

    public init(
        settings: Settings, source: any SiteURLSource, store: any ConfigStore, proxy: any ProxyControl,
        state: any StateStore, logger: Logger
    ) {
        self.settings = settings
        self.source = source
        self.store = store
        self.proxy = proxy
        self.state = state
        self.logger = logger
    }

    func log(_ level: Logger.Level, _ message: Logger.Message, _ event: String, _ metadata: Logger.Metadata = [:]) {
        var all = metadata
        all["event"] = .string(event)
        logger.log(level: level, message, metadata: all)
    }

    // MARK: the cycle

    /// Runs one cycle. In `dryRun` mode nothing is written, tested or reloaded.
    public func runCycle(dryRun: Bool, now: Timestamp) async -> CycleOutcome {
        var current = state.load()
        if !dryRun, current.applyInProgress != nil {
            await recoverInterruptedApply(&current, now: now)
        }
        let outcome = await cycle(dryRun: dryRun, state: &current, now: now)
        if !dryRun { record(outcome, into: &current, now: now) }
        return outcome
    }

    func cycle(dryRun: Bool, state current: inout SyncState, now: Timestamp) async -> CycleOutcome {
        let urls: SiteURLs
        do {
            urls = try await source.fetchSiteURLs()
        } catch {
            log(error.isTransient ? .notice : .error, "GoCD did not answer with site URLs", "gocd_error", ["error": "\(error)"])
            return .gocdError(error)
        }
        let derivation: Derivation
        do {
            derivation = try PlanDeriver.derive(urls, settings: settings.proxy)
        } catch {
            log(
                .error, "site URL rejected; the file in place keeps serving", "rejected",
                ["field": "\(error.field)", "value": "\(error.value)", "reason": "\(error.reason)"])
            return .rejected(error)
        }
        let plan: ProxyPlan
        switch derivation {
        case .nothingToDerive(let warnings):
            for warning in warnings { log(.warning, "\(warning)", "unchanged") }
            if !current.bothUnset || dryRun {
                log(
                    .warning,
                    "GoCD has neither site_url nor secure_site_url set: keeping the current file; set them in GoCD (Admin → Server Configuration)",
                    "unchanged")
            }
            if !dryRun { current.bothUnset = true }
            if !dryRun, current.reloadOwed { return await retryReload(&current, now: now) }
            return dryRun
                ? .dryRun(semanticDiff: "nothing to derive: both site URLs are unset", unifiedDiff: "", changePending: false)
                : .nothingToDerive
        case .plan(let derived):
            plan = derived
            if !dryRun { current.bothUnset = false }
        }
        let text: String
        do {
            text = try Renderers.make(for: settings.proxy).render(plan)
        } catch {
            let rejection = SiteURLRejection(field: "site_url", rawValue: urls.siteURL, reason: "\(error)")
            log(.error, "site URL rejected; the file in place keeps serving", "rejected", ["reason": "\(error)"])
            return .rejected(rejection)
        }
        let newBytes = Array(text.utf8)
        let installed: [UInt8]?
        do {
            installed = try store.readInstalled()
        } catch {
            log(.error, "cannot read the installed file", "write_failed", ["error": "\(error)"])
            return .writeFailed("\(error)")
        }
        if installed == newBytes {
            if dryRun { return .dryRun(semanticDiff: "no change", unifiedDiff: "", changePending: false) }
            if current.reloadOwed { return await retryReload(&current, now: now) }
            log(
                .debug, "in sync; nothing to do", "unchanged",
                ["site_url": "\(plan.siteURL)", "secure_site_url": "\(plan.secureSiteURL)"])
            return .unchanged
        }
        let oldText = installed.map { String(decoding: $0, as: UTF8.self) }
        let old = oldText.map { InstalledConfig.read($0, kind: settings.proxy.kind) }
        var semantic = SemanticDiff.describe(from: old?.listeners ?? [], to: plan.listeners)
        let reason: String
        switch old {
        case nil: reason = "initial"
        case let old? where !old.isManaged: reason = "adopt"
        case _ where oldText?.split(separator: "\n").dropFirst().first.map(String.init) == plan.sourceLine:
            reason = "drift"
            if semantic == "no listener changes" { semantic = "the file was edited by hand; restoring the managed content" }
        default: reason = "change"
        }
        if dryRun {
            let unified = UnifiedDiff.make(
                old: oldText ?? "", new: text, oldName: "\(settings.proxy.output) (installed)",
                newName: "\(settings.proxy.output) (rendered)")
            return .dryRun(semanticDiff: semantic, unifiedDiff: unified, changePending: true)
        }
        return await apply(newBytes, previous: installed, plan: plan, reason: reason, diff: semantic, state: &current, now: now)
    }

    // MARK: apply

    func apply(
        _ bytes: [UInt8], previous: [UInt8]?, plan: ProxyPlan, reason: String, diff: String, state current: inout SyncState,
        now: Timestamp
    ) async -> CycleOutcome {
        var backupPath: String?
        do {
            if let previous { backupPath = try store.backup(previous) }
            current.applyInProgress = SyncState.ApplyInProgress(backupPath: backupPath, startedAt: now.iso8601)
            try state.save(current)
            try store.install(bytes)
        } catch {
            current.applyInProgress = nil
            log(.error, "cannot write the new file; the previous file is intact", "write_failed", ["error": "\(error)"])
            return .writeFailed("\(error)")
        }
        if reason == "adopt", let backupPath {
            log(.notice, "adopted a hand-written file; the original was saved", "applied", ["backup": "\(backupPath)"])
        }
        let test = await proxy.test()
        if !test.succeeded {
            let restored = restore(previous, backupPath: backupPath)
            current.applyInProgress = nil
            let again = await proxy.test()
            let output = test.output.isEmpty ? test.summary : test.output
            if !again.succeeded {
                log(
                    .critical,
                    "the proxy's config test was already failing before this change; the previous file was restored: fix the proxy configuration",
                    "proxy_broken",
                    ["test": "\(test.summary)", "output": "\(output)"])
                return .proxyBroken(output: output)
            }
            log(
                .error, "the proxy's config test failed on the new file; the previous file was restored", "test_failed",
                [
                    "test": "\(test.summary)", "output": "\(output)",
                    "hint": "\(ModuleHint.hint(for: output, kind: settings.proxy.kind))", "restored": "\(restored)",
                ])
            return .testFailed(output: output)
        }
        for warning in plan.warnings { log(.warning, "\(warning)", "applied") }
        log(
            .notice, "applied a new proxy configuration", "applied",
            [
                "reason": "\(reason)", "diff": "\(diff)", "site_url": "\(plan.siteURL)",
                "secure_site_url": "\(plan.secureSiteURL)", "file": "\(settings.proxy.output)",
            ])
        current.lastAppliedSiteURL = plan.siteURL
        current.lastAppliedSecureSiteURL = plan.secureSiteURL
        current.lastChangeAt = now.iso8601
        let reload = await proxy.reload()
        current.applyInProgress = nil
        if !reload.succeeded {
            current.reloadOwed = true
            log(
                .error, "the reload command failed; the new file stays in place and the reload will be retried next cycle",
                "reload_failed",
                ["command": "\(reload.summary)", "output": "\(reload.output)"])
            return .reloadFailed(output: reload.output.isEmpty ? reload.summary : reload.output)
        }
        current.reloadOwed = false
        current.lastReloadAt = now.iso8601
        log(
            .info, "the proxy reloaded its configuration", "reloaded",
            ["command": "\(settings.proxy.reloadCommand.joined(separator: " "))"])
        return .applied(reason: reason, diff: diff)
    }

    /// Puts the previous bytes back (or removes the file if there was none). Returns what happened.
    @discardableResult
    func restore(_ previous: [UInt8]?, backupPath: String?) -> String {
        do {
            try store.install(previous)
            let what = previous == nil ? "removed the new file (there was none before)" : "restored the previous file"
            log(
                .warning, "rolled back the managed file", "rolled_back", ["what": "\(what)", "backup": "\(backupPath ?? "none")"])
            return what
        } catch {
            log(
                .critical, "could not restore the previous file: restore it by hand from the backup", "write_failed",
                ["error": "\(error)", "backup": "\(backupPath ?? "none")"])
            return "restore failed: \(error)"
        }
    }

    func retryReload(_ current: inout SyncState, now: Timestamp) async -> CycleOutcome {
        log(.notice, "retrying a reload that failed earlier", "reloaded")
        let reload = await proxy.reload()
        if !reload.succeeded {
            log(
                .error, "the reload command failed again; will retry next cycle", "reload_failed",
                ["command": "\(reload.summary)", "output": "\(reload.output)"])
            return .reloadFailed(output: reload.output.isEmpty ? reload.summary : reload.output)
        }
        current.reloadOwed = false
        current.lastReloadAt = now.iso8601
        log(.info, "the proxy reloaded its configuration", "reloaded", ["retry": "true"])
        return .applied(reason: "reload-retry", diff: "no file change; an earlier reload had failed")
    }

    // MARK: recovery and record

    /// Finishes an apply interrupted by a crash: test the file on disk, then reload it or restore the backup.
    func recoverInterruptedApply(_ current: inout SyncState, now: Timestamp) async {
        guard let pending = current.applyInProgress else { return }
        log(
            .warning, "an earlier apply was interrupted; testing the file on disk", "started",
            ["started_at": "\(pending.startedAt)"])
        let test = await proxy.test()
        if test.succeeded {
            let reload = await proxy.reload()
            current.reloadOwed = !reload.succeeded
            if reload.succeeded {
                current.lastReloadAt = now.iso8601
                log(.notice, "finished the interrupted apply", "reloaded")
            } else {
                log(
                    .error, "the reload after an interrupted apply failed; will retry", "reload_failed",
                    ["output": "\(reload.output)"])
            }
        } else {
            var previous: [UInt8]?
            if let path = pending.backupPath { previous = try? store.readBackup(path) }
            if pending.backupPath == nil || previous != nil {
                restore(previous, backupPath: pending.backupPath)
            }
        }
        current.applyInProgress = nil
        try? state.save(current)
    }

    /// Records the outcome in the state file, unless the cycle changed nothing: an unchanged cycle after
    /// an unchanged cycle writes nothing at all (SPEC §1), so the file's times are those of the last event.
    func record(_ outcome: CycleOutcome, into current: inout SyncState, now: Timestamp) {
        let previous = state.load()
        current.lastCycleAt = now.iso8601
        current.lastOutcome = outcome.event
        if outcome.isSuccess {
            current.lastSuccessAt = now.iso8601
            current.consecutiveFailures = 0
        } else {
            current.consecutiveFailures += 1
            current.lastError = Self.errorText(outcome)
        }
        if outcome == .unchanged || outcome == .nothingToDerive {
            var a = previous
            var b = current
            (a.lastCycleAt, a.lastSuccessAt, b.lastCycleAt, b.lastSuccessAt) = (nil, nil, nil, nil)
            // After a success, "unchanged" adds nothing to the record of what last happened.
            if a.consecutiveFailures == 0 { (a.lastOutcome, b.lastOutcome) = (nil, nil) }
            if a == b { return }
        }
        do {
            try state.save(current)
        } catch {
            log(.error, "cannot write the state file", "write_failed", ["error": "\(error)"])
        }
    }

    static func errorText(_ outcome: CycleOutcome) -> String {
        switch outcome {
        case .gocdError(let error): "\(error)"
        case .rejected(let rejection): "\(rejection)"
        case .testFailed: "the proxy's config test failed on the new file; the previous file was restored"
        case .proxyBroken: "the proxy's config test fails even with the previous file: the proxy configuration is broken"
        case .reloadFailed: "the reload command failed; a reload is owed"
        case .writeFailed(let error): error
        default: ""
        }
    }
}
