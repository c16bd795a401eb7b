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
    public var serving: any ServingCheck
    /// The operator's include files, read every cycle (their content is part of what is applied).
    public var includes: any IncludeReader
    public var logger: Logger
    /// What the engine remembers between cycles of one process without writing it down.
    let memory = EngineMemory()

    public init(
        settings: Settings, source: any SiteURLSource, store: any ConfigStore, proxy: any ProxyControl,
        state: any StateStore, serving: any ServingCheck, logger: Logger, includes: any IncludeReader = NoIncludeReader()
    ) {
        self.includes = includes
        self.settings = settings
        self.source = source
        self.store = store
        self.proxy = proxy
        self.state = state
        self.serving = serving
        self.logger = logger
    }

    func log(
        _ level: Logger.Level, _ message: @autoclosure () -> Logger.Message, _ event: Event,
        _ metadata: @autoclosure () -> Logger.Metadata = [:]
    ) {
        // Built only when it is logged: the idle cycle's debug line costs nothing at the usual levels.
        guard logger.logLevel <= level else { return }
        var all = metadata()
        all["event"] = event.value
        logger.log(level: level, message(), metadata: all)
    }

    func log(_ notice: Notice, level: Logger.Level = .warning) {
        log(level, "\(notice.message)", notice.event, notice.metadata.mapValues { .string($0) })
    }

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

    // MARK: the cycle

    /// Runs one cycle. In `dryRun` mode nothing is written, tested or reloaded.
    public func runCycle(dryRun: Bool, now: Timestamp) async -> CycleOutcome {
        var current = state.load()
        if let damage = current.damage {
            if dryRun {
                log(
                    .warning, "the state file is damaged; the next cycle keeps a copy and recovers as after a crash",
                    .started, ["file": "\(damage.file)", "problem": "\(damage.problem)"])
            } else {
                current.damage = nil
                await recoverLostState(&current, damage: keepDamaged(damage), now: now)
            }
        }
        if !dryRun, current.applyInProgress != nil {
            await recoverInterruptedApply(&current, now: now)
        }
        let outcome = await cycle(dryRun: dryRun, state: &current, now: now)
        switch outcome {
        case .rejected, .gocdError: break  // a GoCD error between two refusals of one value is no change of it
        default: memory.forgetRefusal()
        }
        if !dryRun { record(outcome, into: &current, now: now) }
        return outcome
    }

    func cycle(dryRun: Bool, state current: inout SyncState, now: Timestamp) async -> CycleOutcome {
        let urls: SiteURLs
        do {
            urls = try await source.fetchSiteURLs()
        } catch {
            log(error.isTransient ? .notice : .error, "GoCD did not answer with site URLs", .gocdError, ["error": "\(error)"])
            return .gocdError(error)
        }
        // What every include holds now is part of the settings this cycle renders with.
        var proxySettings = settings.proxy
        for path in proxySettings.includes {
            do {
                proxySettings.includeDigests[path] = Digest.fnv1a64Hex(try includes.read(path))
            } catch {
                log(
                    .error, "an include file is refused; the file in place keeps serving", .writeFailed,
                    ["include": "\(path)", "error": "\(error)"])
                return .writeFailed("\(error)")
            }
        }
        let rendering: EngineMemory.Rendering
        if let last = memory.rendering(for: urls, settings: proxySettings) {
            rendering = last
            if !dryRun { current.bothUnset = false }
        } else {
            let derivation: Derivation
            do {
                derivation = try PlanDeriver.derive(urls, settings: settings.proxy)
            } catch {
                logRejected(
                    "site URL rejected; the file in place keeps serving", error, urls: urls, now: now,
                    ["field": "\(error.field)", "value": "\(error.value)", "reason": "\(error.reason)"])
                return .rejected(error)
            }
            let plan: ProxyPlan
            switch derivation {
            case .nothingToDerive(let warnings):
                return await nothingToDerive(warnings, dryRun: dryRun, state: &current, now: now)
            case .plan(let derived):
                plan = derived
                if !dryRun { current.bothUnset = false }
            }
            let text: String
            do {
                text = try Renderers.make(for: proxySettings).render(plan)
            } catch {
                let rejection = SiteURLRejection(field: "site_url", rawValue: urls.siteURL, reason: "\(error)")
                logRejected(
                    "site URL rejected; the file in place keeps serving", rejection, urls: urls, now: now,
                    ["reason": "\(error)"])
                return .rejected(rejection)
            }
            let bytes = Array(text.utf8)
            rendering = EngineMemory.Rendering(
                urls: urls, settings: proxySettings, plan: plan, text: text, bytes: bytes,
                digest: Digest.fnv1a64Hex(bytes))
            memory.remember(rendering)
        }
        let plan = rendering.plan
        let text = rendering.text
        let newBytes = rendering.bytes
        let installed: [UInt8]?
        do {
            installed = try store.readInstalled()
        } catch {
            log(.error, "cannot read the installed file", .writeFailed, ["error": "\(error)"])
            return .writeFailed("\(error)")
        }
        if installed == newBytes {
            if dryRun { return .dryRun(semanticDiff: "no change", unifiedDiff: "", changePending: false) }
            // The file in place is this rendering, so the record says so, also when the apply that wrote it
            // was killed before recording it (and finished at start-up) or the record was lost.
            current.lastWrittenDigest = rendering.digest
            if current.lastAppliedSiteURL != plan.siteURL || current.lastAppliedSecureSiteURL != plan.secureSiteURL {
                rememberApplied(plan, in: &current, now: now)
            }
            if current.reloadOwed { return await retryReload(&current, plan: plan, text: text, now: now) }
            if let outcome = await confirmAfterStart(plan: plan, text: text, state: &current, now: now) { return outcome }
            if memory.certificatesDue(day: now.day) {
                warnOnce(await serving.certificateNotices(plan), state: &current, now: now)
            }
            log(
                .debug, "in sync; nothing to do", .unchanged,
                ["site_url": "\(plan.siteURL)", "secure_site_url": "\(plan.secureSiteURL)"])
            return .unchanged
        }
        let oldText = installed.map { String(decoding: $0, as: UTF8.self) }
        let old = oldText.map { InstalledConfig.read($0, kind: settings.proxy.kind) }
        var semantic = SemanticDiff.describe(from: old?.listeners ?? [], to: plan.listeners)
        var reason = Self.reason(installed: installed, managed: old?.isManaged ?? false, plan: plan, state: current)
        let changedIncludes = oldText.map { Self.changedIncludes(installed: $0, rendered: text) } ?? []
        if reason == "change" && !changedIncludes.isEmpty
            && current.lastAppliedSiteURL == plan.siteURL && current.lastAppliedSecureSiteURL == plan.secureSiteURL
        {
            reason = "include"
        }
        if !dryRun, let failed = memory.includeFailure(), failed.digest == rendering.digest {
            // Tried again only when an include (or anything else) changes again.
            log(
                .debug, "an include still fails the config test, as logged earlier; waiting for it to change", .testFailed,
                ["include": "\(changedIncludes.joined(separator: ","))"])
            return .testFailed(output: failed.output)
        }
        if reason == "drift" && semantic == "no listener changes" {
            semantic = "the file was edited by hand; restoring the managed content"
        }
        let report = await serving.preflight(plan)
        if dryRun {
            for notice in report.notices { log(notice) }
            if let refusal = report.refusals.first {
                return refuse(refusal, all: report.refusals, plan: plan, urls: urls, now: now)
            }
            let unified = UnifiedDiff.make(
                old: oldText ?? "", new: text, oldName: "\(settings.proxy.output) (installed)",
                newName: "\(settings.proxy.output) (rendered)")
            return .dryRun(semanticDiff: semantic, unifiedDiff: unified, changePending: true)
        }
        warnOnce(report.notices.filter { $0.event == .certificateExpiring }, state: &current, now: now)
        for notice in report.notices where notice.event != .certificateExpiring { log(notice) }
        if let refusal = report.refusals.first {
            return refuse(refusal, all: report.refusals, plan: plan, urls: urls, now: now)
        }
        let outcome = await apply(
            newBytes, previous: installed, plan: plan, text: text, reason: reason, diff: semantic, state: &current, now: now,
            changedIncludes: changedIncludes)
        if case .testFailed(let output) = outcome, !changedIncludes.isEmpty {
            memory.rememberIncludeFailure((rendering.digest, output))
        } else {
            memory.rememberIncludeFailure(nil)
        }
        return outcome
    }

    /// The includes whose content differs between the installed file's head and the rendered one's (a new or
    /// dropped include counts), sorted.
    static func changedIncludes(installed: String, rendered: String) -> [String] {
        let old = Includes.named(in: installed)
        let new = Includes.named(in: rendered)
        return Set(old.keys).union(new.keys).filter { old[$0] != new[$0] }.sorted()
    }


    /// The first unchanged cycle of a process: what `state.json` says about serving is not trusted, it is
    /// confirmed again (the proxy may have stopped, or restarted on another file, while this program was not
    /// running). nil when confirmed (or not asked); otherwise the outcome, with a reload owed.
    func confirmAfterStart(plan: ProxyPlan, text: String, state current: inout SyncState, now: Timestamp) async
        -> CycleOutcome?
    {
        guard settings.proxy.confirmTimeoutSeconds > 0, let generation = Generation.of(text), memory.startConfirmationDue()
        else { return nil }
        if serving.proxyRunning() == false {
            current.serving = false
            logProxyNotRunning("the managed file is in place")
            return .notServing("the proxy is not running")
        }
        let confirmation = await serving.confirm(plan, generation: generation, superseded: nil)
        if confirmation.confirmed {
            // Recorded only when the record said otherwise: a cycle that changes nothing writes nothing.
            if current.serving != true {
                current.serving = true
                current.lastConfirmedAt = now.iso8601
            }
            log(
                .info, "in sync; the proxy serves the managed file (confirmed at start)", .unchanged,
                ["confirmed_after_ms": "\(Int((confirmation.elapsedSeconds * 1000).rounded()))"])
            return nil
        }
        current.serving = false
        current.reloadOwed = true
        log(
            .error, "the proxy does not serve the managed file in place (found at start); a reload is owed and retried",
            .notServing, ["listener": "\(confirmation.failedListener ?? "")", "got": "\(confirmation.observed)"])
        return .notServing("\(confirmation.failedListener ?? "a listener"): \(confirmation.observed)")
    }

    /// Both site URLs unset: the file in place stays; an owed reload is still retried.
    func nothingToDerive(
        _ warnings: [String], dryRun: Bool, state current: inout SyncState, now: Timestamp
    ) async -> CycleOutcome {
        for warning in warnings { log(.warning, "\(warning)", .unchanged) }
        if !current.bothUnset || dryRun {
            log(
                .warning,
                "GoCD has neither site_url nor secure_site_url set: keeping the current file; set them in GoCD (Admin → Server Configuration)",
                .unchanged)
        }
        if !dryRun { current.bothUnset = true }
        if !dryRun, current.reloadOwed {
            let text = (try? store.readInstalled()).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } ?? ""
            let installed = InstalledConfig.read(text, kind: settings.proxy.kind)
            let plan = ProxyPlan(listeners: installed.listeners, siteURL: "", secureSiteURL: "")
            return await retryReload(&current, plan: plan, text: text, now: now)
        }
        return dryRun
            ? .dryRun(semanticDiff: "nothing to derive: both site URLs are unset", unifiedDiff: "", changePending: false)
            : .nothingToDerive
    }

    // MARK: decisions

    /// Why a change is applied. Drift is decided from this program's own record of what it last wrote
    /// and the site URLs it last applied, never from the file's comments.
    static func reason(installed: [UInt8]?, managed: Bool, plan: ProxyPlan, state: SyncState) -> String {
        guard let installed else { return "initial" }
        guard managed else { return "adopt" }
        let sameURLs =
            state.lastAppliedSiteURL == plan.siteURL && state.lastAppliedSecureSiteURL == plan.secureSiteURL
        if sameURLs, let written = state.lastWrittenDigest, written != Digest.fnv1a64Hex(installed) { return "drift" }
        return "change"
    }

    /// A pre-flight refusal: exit 4, event `rejected`, naming the field whose listener it concerns.
    func refuse(_ refusal: Refusal, all: [Refusal], plan: ProxyPlan, urls: SiteURLs, now: Timestamp) -> CycleOutcome {
        let field = plan.field(for: refusal.listener)
        let rejection = SiteURLRejection(
            field: field.rawValue, rawValue: field == .siteURL ? urls.siteURL : urls.secureSiteURL,
            reason: all.map(\.description).joined(separator: "; "))
        logRejected(
            "the new plan was refused before anything was written; the file in place keeps serving", rejection,
            urls: urls, now: now,
            ["field": "\(rejection.field)", "value": "\(rejection.value)", "reason": "\(rejection.reason)"])
        return .rejected(rejection)
    }

    /// A refusal is an error once per change of what is refused (both site URLs and the reason) and again at
    /// most hourly; the cycles between log it at debug level. Every cycle still ends `rejected` (exit 4, the
    /// metrics' outcome, the STATUS line): only the log line is not repeated.
    func logRejected(
        _ message: String, _ rejection: SiteURLRejection, urls: SiteURLs, now: Timestamp, _ metadata: Logger.Metadata
    ) {
        let key = [urls.siteURL, urls.secureSiteURL, rejection.field, rejection.reason].joined(separator: "\u{0}")
        if memory.refusalDue(key, now: now.epochSeconds) {
            log(.error, "\(message)", .rejected, metadata)
        } else {
            log(
                .debug, "still refused, as logged earlier (repeated at most hourly)", .rejected,
                metadata.merging(["repeat": "suppressed"]) { $1 })
        }
    }

    /// Logs certificate warnings at most once a day per file.
    func warnOnce(_ notices: [Notice], state current: inout SyncState, now: Timestamp) {
        for notice in notices {
            let subject = notice.subject ?? notice.message
            if current.certificateWarnings[subject] == now.day { continue }
            current.certificateWarnings[subject] = now.day
            log(notice)
        }
    }

    // MARK: apply

    func apply(
        _ bytes: [UInt8], previous: [UInt8]?, plan: ProxyPlan, text: String, reason: String, diff: String,
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
        if reason == "adopt", let backupPath {
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
        log(
            .notice, "applied a new proxy configuration", .applied,
            [
                "reason": "\(reason)", "diff": "\(diff)", "site_url": "\(plan.siteURL)",
                "secure_site_url": "\(plan.secureSiteURL)", "file": "\(settings.proxy.output)",
            ])
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
    }

    /// Asks the proxy whether it serves `plan` from `generation`; logs `reloaded` once it does.
    /// Returns nil when confirmation is turned off (`confirm_timeout_seconds = 0`).
    func confirm(
        _ plan: ProxyPlan, generation: String?, superseded: Superseded? = nil, state current: inout SyncState,
        now: Timestamp
    ) async -> Confirmation? {
        guard settings.proxy.confirmTimeoutSeconds > 0 else {
            current.serving = nil
            log(
                .info, "the proxy reloaded its configuration (not confirmed: confirm_timeout_seconds = 0)", .reloaded,
                ["command": "\(settings.proxy.reloadCommand.joined(separator: " "))"])
            return nil
        }
        let confirmation = await serving.confirm(plan, generation: generation, superseded: superseded)
        if confirmation.confirmed {
            current.serving = true
            current.lastConfirmedAt = now.iso8601
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

    /// A reload failed earlier: retry it, and confirm what it loaded.
    func retryReload(_ current: inout SyncState, plan: ProxyPlan, text: String, now: Timestamp) async -> CycleOutcome {
        log(.notice, "retrying a reload that failed earlier", .reloadFailed, ["retry": "true"])
        guard let reload = await reloadRunningProxy() else {
            current.serving = false
            logProxyNotRunning("the reload stays owed")
            return .notServing("the proxy is not running")
        }
        if !reload.succeeded {
            log(
                .error, "the reload command failed again; will retry next cycle", .reloadFailed,
                ["command": "\(reload.summary)", "output": "\(reload.output)"])
            return .reloadFailed(output: reload.output.isEmpty ? reload.summary : reload.output)
        }
        current.reloadOwed = false
        current.lastReloadAt = now.iso8601
        if let confirmation = await confirm(plan, generation: Generation.of(text), state: &current, now: now),
            !confirmation.confirmed
        {
            // The file on disk passed its test before; the proxy still does not serve it. Keep it, say so, and
            // retry on the backoff schedule.
            current.reloadOwed = true
            log(
                .error, "the proxy did not serve the file after the retried reload; will retry", .notServing,
                ["listener": "\(confirmation.failedListener ?? "")", "got": "\(confirmation.observed)"])
            return .notServing("\(confirmation.failedListener ?? "a listener"): \(confirmation.observed)")
        }
        for notice in await serving.endToEnd(plan, generation: Generation.of(text)) { log(notice) }
        return .applied(reason: "reload-retry", diff: "no file change; an earlier reload had failed")
    }

    // MARK: recovery and record

    /// Moves the damaged state file aside (never silently replaced): where it went, or why it could not.
    func keepDamaged(_ damage: StateDamage) -> StateDamage {
        var damage = damage
        do {
            damage.keptAt = try state.keepDamagedCopy()
        } catch {
            damage.keepFailure = "\(error)"
        }
        return damage
    }

    /// The state file was damaged: whether a reload was owed or an apply interrupted is unknown. The safe
    /// choice: test the file in place; when it passes, reload and confirm what is served; when it fails,
    /// say so (this cycle then renders and applies as usual, which restores a file that passes).
    func recoverLostState(_ current: inout SyncState, damage: StateDamage, now: Timestamp) async {
        log(
            .warning,
            "the state file was damaged and replaced by a fresh record: the record of an owed reload or an interrupted apply may be lost; testing and reloading the file in place to be safe",
            .started, ["file": "\(damage.file)", "problem": "\(damage.problem)", "damaged_copy": "\(damage.kept)"])
        guard let bytes = try? store.readInstalled() else { return }
        let test = await proxy.test()
        guard test.succeeded else {
            log(
                .error, "the file in place fails the proxy's config test; this cycle applies a fresh one",
                .testFailed, ["output": "\(test.output)"])
            return
        }
        guard let reload = await reloadRunningProxy() else {
            current.reloadOwed = true
            current.serving = false
            logProxyNotRunning("the reload is owed")
            return
        }
        guard reload.succeeded else {
            current.reloadOwed = true
            log(.error, "the reload failed; it is retried", .reloadFailed, ["output": "\(reload.output)"])
            return
        }
        current.lastReloadAt = now.iso8601
        let text = String(decoding: bytes, as: UTF8.self)
        let installed = InstalledConfig.read(text, kind: settings.proxy.kind)
        let plan = ProxyPlan(listeners: installed.listeners, siteURL: "", secureSiteURL: "")
        _ = await confirm(plan, generation: Generation.of(text), state: &current, now: now)
    }

    /// Finishes an apply interrupted by a crash: test the file on disk, then reload it or restore the backup.
    func recoverInterruptedApply(_ current: inout SyncState, now: Timestamp) async {
        guard let pending = current.applyInProgress else { return }
        log(
            .warning, "an earlier apply was interrupted; testing the file on disk", .started,
            ["started_at": "\(pending.startedAt)"])
        var previous: [UInt8]?
        if let path = pending.backupPath { previous = try? store.readBackup(path) }
        let onDisk = try? store.readInstalled()
        let test = await proxy.test()
        if test.succeeded {
            guard let reload = await reloadRunningProxy() else {
                current.reloadOwed = true
                current.serving = false
                current.applyInProgress = nil
                logProxyNotRunning("the interrupted apply's file passed its test and stays; the reload is owed")
                try? state.save(current)
                return
            }
            current.reloadOwed = !reload.succeeded
            if reload.succeeded {
                current.lastReloadAt = now.iso8601
                let text = onDisk.flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } ?? ""
                let installed = InstalledConfig.read(text, kind: settings.proxy.kind)
                let plan = ProxyPlan(listeners: installed.listeners, siteURL: "", secureSiteURL: "")
                if let confirmation = await confirm(plan, generation: Generation.of(text), state: &current, now: now),
                    !confirmation.confirmed, pending.backupPath == nil || previous != nil
                {
                    _ = await rollBack(
                        after: confirmation, previous: previous, backupPath: pending.backupPath, state: &current,
                        now: now)
                } else {
                    log(.notice, "finished the interrupted apply", .applied, ["reason": "recovered"])
                }
            } else {
                log(
                    .error, "the reload after an interrupted apply failed; will retry", .reloadFailed,
                    ["output": "\(reload.output)"])
            }
        } else if pending.backupPath == nil || previous != nil {
            restore(previous, backupPath: pending.backupPath, state: &current)
        } else {
            log(
                .critical,
                "the file on disk fails the proxy's config test and the backup of the previous file cannot be read: restore it by hand",
                .proxyBroken, ["backup": "\(pending.backupPath ?? "none")", "output": "\(test.output)"])
        }
        current.applyInProgress = nil
        try? state.save(current)
    }

    /// Records the outcome in the state file, unless the cycle changed nothing: an unchanged cycle after
    /// an unchanged cycle writes nothing at all (README), so the file's times are those of the last event.
    func record(_ outcome: CycleOutcome, into current: inout SyncState, now: Timestamp) {
        let previous = state.load()
        current.lastCycleAt = now.iso8601
        current.lastOutcome = outcome.event.rawValue
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
            log(.error, "cannot write the state file", .writeFailed, ["error": "\(error)"])
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
        case .notServing(let what): what
        default: ""
        }
    }
}
