import Logging

/// Applying one new file (README: How a change is applied): staged and tested before it is live, installed, reloaded
/// (only while the proxy runs), confirmed by what is served; and the restore branch when it is not served.
extension SyncEngine {
    // MARK: reloads

    /// Runs the reload command only while the proxy's main process is alive; nil when it is not (a reload
    /// command such as `apachectl -k graceful` would start a proxy inside this program's unit and sandbox).
    func reloadRunningProxy() async -> CommandResult? {
        if serving.proxyRunning() == false { return nil }
        return await proxy.reload()
    }

    /// What to run to start the proxy, for the messages.
    var startAdvice: String {
        settings.proxy.kind == .nginx ? "systemctl start nginx" : "systemctl start apache2 (httpd on RHEL)"
    }

    func logProxyNotRunning(_ what: String) {
        log(
            .critical,
            "the proxy is not running: nothing serves the GoCD site, and no reload was run (it would start the proxy inside this program's unit); \(what); start it: \(startAdvice)",
            .notServing, ["proxy": "\(settings.proxy.kind.rawValue)"])
    }

    // MARK: apply

    func apply(
        _ bytes: [UInt8], previous: [UInt8]?, plan: ProxyPlan, text: String, reason: ApplyReason, diff: String,
        state current: inout SyncState, now: Timestamp, changedIncludes: [String] = []
    ) async -> CycleOutcome {
        var backupPath: String?
        do {
            if let previous { backupPath = try store.backup(previous) }
        } catch {
            log(.error, "cannot write the new file; the previous file is intact", .writeFailed, ["error": "\(error)"])
            return .writeFailed("\(error)")
        }
        // Tested before it is live (README): the test sees the new bytes at the output's path in a view of its
        // own, while the live path keeps the previous bytes for any other reload (a certbot hook, logrotate).
        var tested = false
        switch await proxy.testStaged(bytes) {
        case .tested(let test):
            if !test.succeeded {
                return await testFailed(
                    test, restored: "never installed: the previous file stayed in place", changedIncludes: changedIncludes)
            }
            tested = true
        case .unavailable(let why):
            if memory.firstStagingWarning() {
                log(
                    .warning,
                    "the new file cannot be tested before it is live here, so it is tested at the live path (as before 5f); grant the unit a private mount namespace to close that window",
                    .applied, ["why": "\(why)"])
            }
        }
        do {
            current.applyInProgress = SyncState.ApplyInProgress(backupPath: backupPath, startedAt: now.iso8601)
            try state.save(current)
            try store.install(bytes)
        } catch {
            current.applyInProgress = nil
            log(.error, "cannot write the new file; the previous file is intact", .writeFailed, ["error": "\(error)"])
            return .writeFailed("\(error)")
        }
        current.lastWrittenDigest = Digest.fnv1a64Hex(bytes)
        if reason == .adopt, let backupPath {
            log(.notice, "adopted a hand-written file; the original was saved", .applied, ["backup": "\(backupPath)"])
        }
        if !tested {
            let test = await proxy.test()
            if !test.succeeded {
                let restored = restore(previous, backupPath: backupPath, state: &current)
                current.applyInProgress = nil
                return await testFailed(test, restored: restored, changedIncludes: changedIncludes)
            }
        }
        for warning in plan.warnings { log(.warning, "\(warning)", .applied) }
        var applied: Logger.Metadata = [
            "reason": "\(reason.rawValue)", "diff": "\(diff)", "site_url": "\(plan.siteURL)",
            "secure_site_url": "\(plan.secureSiteURL)", "file": "\(settings.proxy.output)",
        ]
        if !plan.keptNames.isEmpty {
            // SPEC 5e: Renames; which names GoCD dropped are still served, and until when.
            applied["kept_names"] = "\(plan.keptNames.sorted { $0.key < $1.key }.map { "\($0.key) until \($0.value)" }.joined(separator: ", "))"
        }
        log(.notice, "applied a new proxy configuration", .applied, applied)
        guard let reload = await reloadRunningProxy() else {
            // The new file passed its test and stays: a proxy started later loads it; the reload is owed.
            current.applyInProgress = nil
            current.reloadOwed = true
            current.serving = false
            rememberApplied(plan, in: &current, now: now)
            logProxyNotRunning("the new file passed its test and stays in place, not loaded")
            return .notServing("the proxy is not running")
        }
        if !reload.succeeded {
            current.applyInProgress = nil
            current.reloadOwed = true
            current.serving = false
            rememberApplied(plan, in: &current, now: now)
            log(
                .error, "the reload command failed; the new file stays in place and the reload will be retried next cycle",
                .reloadFailed,
                ["command": "\(reload.summary)", "output": "\(reload.output)"])
            return .reloadFailed(output: reload.output.isEmpty ? reload.summary : reload.output)
        }
        current.lastReloadAt = now.iso8601
        current.reloadOwed = false
        let generation = Generation.of(text)
        // Only a change back to a generation applied lately can be answered by an old worker with the same digest;
        // then the listeners the new file drops must fall silent too (that costs the old workers' drain time).
        let returning = generation.map { current.recentGenerations.contains($0) } ?? false
        let confirmation = await confirm(
            plan, generation: generation,
            superseded: returning ? Superseded.from(previous, kind: settings.proxy.kind) : nil, state: &current, now: now)
        if let generation {
            current.recentGenerations = Array((current.recentGenerations.filter { $0 != generation } + [generation]).suffix(4))
        }
        if let confirmation, !confirmation.confirmed {
            let outcome = await rollBack(
                after: confirmation, previous: previous, backupPath: backupPath, state: &current, now: now)
            current.applyInProgress = nil
            return outcome
        }
        current.applyInProgress = nil
        rememberApplied(plan, in: &current, now: now)
        for notice in await serving.endToEnd(plan, generation: Generation.of(text)) { log(notice) }
        return .applied(reason: reason, diff: diff)
    }

    /// A new file failed the config test and is not live (never installed, or put back): the test is run once
    /// more over what is live, to tell a change at fault (exit 5) from a proxy configuration already broken (9).
    func testFailed(_ test: CommandResult, restored: String, changedIncludes: [String] = []) async -> CycleOutcome {
        let again = await proxy.test()
        let output = test.output.isEmpty ? test.summary : test.output
        if !changedIncludes.isEmpty {
            // An edited include is already in the configuration on disk (the previous file includes it too), so the
            // second test fails as well: the include is at fault, and the proxy was not reloaded.
            log(
                .error,
                "the proxy's config test failed with an edited include; the proxy was not reloaded and keeps serving what it had; fix the include (tried again when it changes)",
                .testFailed,
                [
                    "include": "\(changedIncludes.joined(separator: ","))", "test": "\(test.summary)", "output": "\(output)",
                    "restored": "\(restored)", "still_failing_in_place": "\(!again.succeeded)",
                ])
            return .testFailed(output: "include \(changedIncludes.joined(separator: ", ")): \(output)")
        }
        if !again.succeeded {
            log(
                .critical,
                "the proxy's config test was already failing before this change; the previous file is in place: fix the proxy configuration",
                .proxyBroken,
                ["test": "\(test.summary)", "output": "\(output)"])
            return .proxyBroken(output: output)
        }
        let hint = await serving.diagnose(testOutput: output) ?? ModuleHint.hint(for: output, kind: settings.proxy.kind)
        log(
            .error, "the proxy's config test failed on the new file; the previous file is in place", .testFailed,
            ["test": "\(test.summary)", "output": "\(output)", "hint": "\(hint)", "restored": "\(restored)"])
        return .testFailed(output: output)
    }

    func rememberApplied(_ plan: ProxyPlan, in current: inout SyncState, now: Timestamp) {
        current.lastAppliedSiteURL = plan.siteURL
        current.lastAppliedSecureSiteURL = plan.secureSiteURL
        current.lastChangeAt = now.iso8601
        current.keptNames = plan.keptNames
    }

    /// Asks the proxy whether it serves `plan` from `generation`; logs `reloaded` once it does.
    /// Returns nil when confirmation is turned off (`confirm_timeout_seconds = 0`).
    func confirm(
        _ plan: ProxyPlan, generation: String?, superseded: Superseded? = nil, state current: inout SyncState,
        now: Timestamp
    ) async -> Confirmation? {
        guard settings.proxy.confirmTimeoutSeconds > 0 else {
            current.serving = nil
            recordServedCertificates(plan, in: &current)
            log(
                .info, "the proxy reloaded its configuration (not confirmed: confirm_timeout_seconds = 0)", .reloaded,
                ["command": "\(settings.proxy.reloadCommand.joined(separator: " "))"])
            return nil
        }
        let confirmation = await serving.confirm(plan, generation: generation, superseded: superseded)
        if confirmation.confirmed {
            current.serving = true
            current.lastConfirmedAt = now.iso8601
            recordServedCertificates(plan, in: &current)
            log(
                .info, "the proxy serves the new configuration", .reloaded,
                [
                    "command": "\(settings.proxy.reloadCommand.joined(separator: " "))",
                    "confirmed_after_ms": "\(Int((confirmation.elapsedSeconds * 1000).rounded()))",
                    "listeners": "\(plan.listeners.count)",
                ])
        } else {
            current.serving = false
        }
        return confirmation
    }

    /// The proxy did not serve the new file: put the previous one back, reload, and confirm that in turn.
    func rollBack(
        after failure: Confirmation, previous: [UInt8]?, backupPath: String?, state current: inout SyncState,
        now: Timestamp
    ) async -> CycleOutcome {
        let what = "\(failure.failedListener ?? "a listener"): \(failure.observed)"
        log(
            .error,
            "the proxy did not serve the new file after the reload; restoring the previous file", .notServing,
            [
                "listener": "\(failure.failedListener ?? "")", "got": "\(failure.observed)",
                "waited_ms": "\(Int((failure.elapsedSeconds * 1000).rounded()))",
            ])
        restore(previous, backupPath: backupPath, state: &current)
        let reload = await reloadRunningProxy() ?? CommandResult(
            argv: settings.proxy.reloadCommand, exitStatus: nil, launchError: "not run: the proxy is not running")
        var restoredServes = false
        if reload.succeeded {
            if let previous {
                let oldText = String(decoding: previous, as: UTF8.self)
                let old = InstalledConfig.read(oldText, kind: settings.proxy.kind)
                let oldPlan = ProxyPlan(listeners: old.listeners, siteURL: "", secureSiteURL: "")
                if Generation.of(oldText) != nil || !old.listeners.isEmpty {
                    let check = await serving.confirm(oldPlan, generation: Generation.of(oldText), superseded: nil)
                    restoredServes = check.confirmed
                } else {
                    restoredServes = true
                }
            } else {
                restoredServes = true
            }
        }
        let running = serving.proxyRunning()
        if !reload.succeeded || !restoredServes || running == false {
            current.serving = false
            let why =
                running == false
                ? "the proxy's main process is gone"
                : !reload.succeeded ? "the reload of the restored file failed (\(reload.summary))"
                : "the restored file is not served either"
            log(
                .critical,
                "the proxy serves neither the new nor the previous file: \(why); check the proxy's error log and start it (\(startAdvice))",
                .notServing, ["listener": "\(failure.failedListener ?? "")", "got": "\(failure.observed)"])
            return .notServing("\(what); \(why)")
        }
        current.serving = true
        current.lastConfirmedAt = now.iso8601
        log(.warning, "the proxy serves the previous file again", .rolledBack)
        return .notServing("\(what); the previous file was restored and is served")
    }

    /// Puts the previous bytes back (or removes the file if there was none). Returns what happened.
    @discardableResult
    func restore(_ previous: [UInt8]?, backupPath: String?, state current: inout SyncState) -> String {
        do {
            try store.install(previous)
            current.lastWrittenDigest = previous.map(Digest.fnv1a64Hex)
            let what = previous == nil ? "removed the new file (there was none before)" : "restored the previous file"
            log(
                .warning, "rolled back the managed file", .rolledBack, ["what": "\(what)", "backup": "\(backupPath ?? "none")"])
            return what
        } catch {
            log(
                .critical, "could not restore the previous file: restore it by hand from the backup", .writeFailed,
                ["error": "\(error)", "backup": "\(backupPath ?? "none")"])
            return "restore failed: \(error)"
        }
    }
}
