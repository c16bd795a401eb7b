import Logging

/// Finishing what an earlier cycle or process left: an owed reload, an interrupted apply, a damaged state file.
extension SyncEngine {
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
        return .applied(reason: .reloadRetry, diff: "no file change; an earlier reload had failed")
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
                    log(.notice, "finished the interrupted apply", .applied, ["reason": "\(ApplyReason.recovered.rawValue)"])
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
}
